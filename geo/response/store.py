"""The stored response areas that the OGC collection and tile layer ``response_areas`` serve.

``refresh_areas`` recomputes, for every mode with on-duty posts, the default breaks
dissolved (``post_code`` null) and per post (``overlap``), and replaces the table in
one transaction.
"""

from __future__ import annotations

import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, text

from geo.errors import Infeasible
from geo.response.areas import response_areas
from geo.response.context import ResponseCache, default_minutes, reach_context
from geo.response.graph import MODES
from geo.response.settings import ResponseSettings
from geo.settings import ServiceAreaSettings

_INSERT = text(
    """
    INSERT INTO response_areas (mode, minutes, overlap, post_code, post_name, households,
                                population, area_m2, geom)
    VALUES (:mode, :minutes, :overlap, :post, :name, :households, :population, :area_m2,
            ST_Multi(ST_SetSRID(ST_GeomFromWKB(:wkb), 4326)))
    """
)


def refresh_areas(engine: Engine, settings: ResponseSettings,
                  area: ServiceAreaSettings,
                  cache: ResponseCache | None = None) -> int:
    """Recompute the stored areas; returns how many were written."""
    rows = []
    for mode in MODES:
        try:
            ctx = reach_context(engine, mode, settings=settings, area=area, cache=cache)
        except Infeasible:
            continue
        for overlap in ("dissolve", "overlap"):
            fc = response_areas(ctx, default_minutes(mode), overlap)
            for f in fc["features"]:
                if f["geometry"] is None:
                    continue
                p = f["properties"]
                rows.append({"mode": mode, "minutes": p["minutes"], "overlap": overlap,
                             "post": p["post"], "name": p["name"],
                             "households": p["households"], "population": p["population"],
                             "area_m2": p["area_m2"],
                             "wkb": shapely.to_wkb(shape(f["geometry"]))})
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM response_areas"))
        if rows:
            conn.execute(_INSERT, rows)
    return len(rows)

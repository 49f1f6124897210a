"""The areas coverage is reported for: city, district, street, community, grid.

The city is the union of the districts (else of all admin areas; else the
extent of the data). Grids are those of the active grid plan.
"""

from __future__ import annotations

import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geo.crs import Projector
from geo.errors import InvalidInput, NotFound

LEVELS = ("city", "district", "street", "community", "grid")

_ADMIN_SQL = text(
    """
    SELECT code, name, level, parent_code, ST_AsBinary(geom) AS wkb
    FROM admin_areas WHERE level = :level ORDER BY code
    """
)
_GRID_SQL = text(
    """
    SELECT g.code, coalesce(g.name, g.code) AS name, 'grid' AS level,
           g.community_code AS parent_code, ST_AsBinary(g.geom) AS wkb
    FROM grids AS g JOIN grid_plans AS p ON p.id = g.plan_id
    WHERE p.status = 'active' ORDER BY g.code
    """
)
_EXTENT_SQL = text(
    """
    SELECT ST_AsBinary(ST_Envelope(ST_Collect(e)))
    FROM (SELECT ST_Extent(geom)::geometry AS e FROM admin_areas
          UNION ALL SELECT ST_Extent(geom)::geometry FROM buildings
          UNION ALL SELECT ST_Extent(geom)::geometry FROM roads
          UNION ALL SELECT ST_Extent(geom)::geometry FROM cameras) AS q
    """
)


def check_level(level: str) -> str:
    """The level, or a clear error."""
    if level not in LEVELS:
        raise InvalidInput(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    return level


def read_units(conn: Connection, level: str, proj: Projector) -> pd.DataFrame:
    """Units of ``level``: code, name, level, parent_code, ``lonlat`` and metric ``geometry``."""
    check_level(level)
    if level == "city":
        frame = _city(conn)
    else:
        sql = _GRID_SQL if level == "grid" else _ADMIN_SQL
        frame = pd.DataFrame(conn.execute(sql, {"level": level}).mappings().all(),
                             columns=["code", "name", "level", "parent_code", "wkb"])
        if len(frame) == 0:
            what = ("grids in the active plan" if level == "grid"
                    else f"admin areas of level {level}")
            raise NotFound(f"no {what}; load them first")
        frame["lonlat"] = shapely.make_valid(shapely.from_wkb(frame.pop("wkb").to_numpy()))
    frame["geometry"] = proj.to_metric(frame["lonlat"].to_numpy())
    return frame


def _city(conn: Connection) -> pd.DataFrame:
    for level in ("district", "street", "community"):
        rows = conn.execute(_ADMIN_SQL, {"level": level}).all()
        if rows:
            geom = shapely.union_all(shapely.make_valid(shapely.from_wkb([r.wkb for r in rows])))
            break
    else:
        wkb = conn.execute(_EXTENT_SQL).scalar()
        if wkb is None:
            raise NotFound("no data: load admin areas, buildings, roads or cameras first")
        geom = shapely.from_wkb(wkb)
    return pd.DataFrame({"code": ["city"], "name": ["city"], "level": ["city"],
                         "parent_code": [None], "lonlat": [geom]})

"""Database-level entry points used by the API and the CLI.

Thin functions that open a connection, read what an analysis needs through
:mod:`geo.gridplan.store`, run it, and return JSON-ready dicts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import geopandas as gpd
import shapely
from sqlalchemy import Engine, text

from geo.errors import NotFound
from geo.gridplan import store
from geo.gridplan.evaluate import PlanEvaluation
from geo.gridplan.overlay import LayerOverlay
from geo.gridplan.settings import GridPlanSettings, band
from geo.settings import ServiceAreaSettings


def evaluate_plan(
    engine: Engine,
    plan_id: int,
    settings: GridPlanSettings,
    communities: Sequence[str] | None = None,
    target: float | None = None,
    tolerance: float | None = None,
    grids: bool = True,
    exact: bool = True,
    *,
    area: ServiceAreaSettings,
) -> dict:
    """Evaluation of a whole plan (or of some communities).

    With ``exact`` the communities whose households could be grouped but are not balanced
    get the contiguity proof (``geo.gridplan.exact``: seconds per community); without it
    only the households-only checks run (what an interactive view needs).
    """
    s = settings
    with engine.connect() as conn:
        plan = store.plan_row(conn, plan_id)
        if communities is not None:
            store.community_codes(conn, communities)
        proj = store.projector(conn, area)
        data = store.plan_data(conn, plan_id, proj, communities=communities)
    ev = PlanEvaluation(
        target or s.grid_target, tolerance or s.grid_tolerance, s.grid_barrier_tolerance_m,
        exact=exact,
    ).fit(data)
    return {
        "plan": plan_id,
        "version": plan["version"],
        "status": plan["status"],
        "metric_epsg": proj.epsg,
        **ev.to_dict(grids=grids),
    }


def resolve_plan(engine: Engine, plan_id: int | None) -> int:
    """``plan_id`` or, when None, the active plan (NotFound when there is none)."""
    if plan_id is not None:
        return plan_id
    with engine.connect() as conn:
        active = store.active_plan_id(conn)
    if active is None:
        raise NotFound("there is no active grid plan; name one")
    return active


def grids_geojson(
    engine: Engine,
    plan_id: int,
    settings: GridPlanSettings,
    community: str | None = None,
    with_buildings: bool = True,
) -> dict:
    """FeatureCollection of a plan's grids with households, deviation, band, lock, building ids."""
    s = settings
    lo, hi = band(s.grid_target, s.grid_tolerance)
    with engine.connect() as conn:
        store.plan_row(conn, plan_id)
        rows = (
            conn.execute(
                text("""
            SELECT g.id, g.code, g.name, g.community_code, g.worker, g.locked,
                   g.households, g.population, g.buildings, ST_AsGeoJSON(g.geom, 7) AS geojson,
                   (SELECT array_agg(m.building_id ORDER BY m.building_id)
                      FROM grid_members m WHERE m.grid_id = g.id) AS building_ids
              FROM grids g
             WHERE g.plan_id = :plan AND (CAST(:cc AS text) IS NULL OR g.community_code = :cc)
             ORDER BY g.code
        """),
                {"plan": plan_id, "cc": community},
            )
            .mappings()
            .all()
        )
    features = []
    for r in rows:
        props = {k: r[k] for k in store.GRID_COLUMNS}
        props["deviation"] = round((r["households"] - s.grid_target) / s.grid_target, 6)
        props["within_band"] = bool(lo <= r["households"] <= hi)
        if with_buildings:
            props["building_ids"] = list(r["building_ids"] or [])
        features.append(
            {
                "type": "Feature",
                "id": r["id"],
                "properties": props,
                "geometry": json.loads(r["geojson"]),
            }
        )
    return {"type": "FeatureCollection", "plan": plan_id, "band": [lo, hi], "features": features}


def buildings_geojson(
    engine: Engine,
    plan_id: int,
    grid: str | None = None,
    community: str | None = None,
    limit: int = 50_000,
) -> dict:
    """Buildings (points) with their grid code in the plan, optionally of one grid/community."""
    with engine.connect() as conn:
        store.plan_row(conn, plan_id)
        if (
            grid is not None
            and not conn.execute(
                text("SELECT 1 FROM grids WHERE plan_id = :p AND code = :c"),
                {"p": plan_id, "c": grid},
            ).first()
        ):
            raise NotFound(f"grid {grid} is not in plan {plan_id}")
        rows = (
            conn.execute(
                text("""
            SELECT b.id, b.code, b.households, b.population, b.community_code, g.code AS grid,
                   ST_AsGeoJSON(ST_PointOnSurface(b.geom), 7) AS geojson
              FROM buildings b
              LEFT JOIN grid_members m ON m.building_id = b.id AND m.plan_id = :plan
              LEFT JOIN grids g ON g.id = m.grid_id
             WHERE (CAST(:grid AS text) IS NULL OR g.code = :grid)
               AND (CAST(:cc AS text) IS NULL OR b.community_code = :cc)
             ORDER BY b.id LIMIT :limit
        """),
                {"plan": plan_id, "grid": grid, "cc": community, "limit": limit},
            )
            .mappings()
            .all()
        )
    return {
        "type": "FeatureCollection",
        "plan": plan_id,
        "features": [
            {
                "type": "Feature",
                "id": r["id"],
                "properties": {
                    k: r[k]
                    for k in ("id", "code", "households", "population", "community_code", "grid")
                },
                "geometry": json.loads(r["geojson"]),
            }
            for r in rows
        ],
    }


def overlay(engine: Engine, plan_id: int, layer: gpd.GeoDataFrame, *,
            area: ServiceAreaSettings, **params) -> dict:
    """多网合一 report of ``layer`` (EPSG:4326, column ``key``) against the plan's grids."""
    with engine.connect() as conn:
        store.plan_row(conn, plan_id)
        proj = store.projector(conn, area)
        base = store.grids_frame(conn, plan_id, proj)
    other = gpd.GeoDataFrame(layer[["key"]].copy(), geometry=proj.to_metric(layer.geometry.values))
    ov = LayerOverlay(**params).fit(other, base.reset_index())
    feats = []
    for geom, (_, row) in zip(layer.geometry.values, ov.features_.iterrows(), strict=True):
        feats.append(
            {
                "type": "Feature",
                "properties": {k: _plain(v) for k, v in row.items()},
                "geometry": json.loads(shapely.to_geojson(geom)),
            }
        )
    return {
        "plan": plan_id,
        "summary": ov.summary_,
        "layer": {"type": "FeatureCollection", "features": feats},
    }


def _plain(v):
    return v.item() if hasattr(v, "item") else v

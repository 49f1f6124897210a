"""SQL of grid planning: read a plan's grids, buildings and context; write grids.

One small function per statement, values always bound. Geometries travel as
WKB in EPSG:4326; callers project them with :class:`~geo.crs.Projector`.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geo.crs import Projector
from geo.errors import NotFound
from geo.gridplan.evaluate import PlanData
from geo.gridplan.polygons import as_multipolygon
from geo.settings import ServiceAreaSettings

_COMMUNITY_OF = """
    COALESCE(b.community_code,
             (SELECT a.code FROM admin_areas a
               WHERE a.level = 'community' AND ST_Intersects(a.geom, ST_PointOnSurface(b.geom))
               ORDER BY a.code LIMIT 1))
"""


# Grid attributes read by the planner and served per grid.
GRID_COLUMNS = ("id", "code", "name", "community_code", "worker", "locked",
                "households", "population", "buildings")

def plan_row(conn: Connection, plan_id: int, lock: bool = False) -> dict:
    """The plan as a dict; ``lock`` takes a row lock (``FOR UPDATE``). NotFound if absent."""
    sql = "SELECT * FROM grid_plans WHERE id = :id" + (" FOR UPDATE" if lock else "")
    row = conn.execute(text(sql), {"id": plan_id}).mappings().first()
    if row is None:
        raise NotFound(f"grid plan {plan_id} does not exist")
    return dict(row)


def active_plan_id(conn: Connection) -> int | None:
    """Id of the active plan, if any."""
    return conn.execute(text("SELECT id FROM grid_plans WHERE status = 'active'")).scalar()


def projector(conn: Connection, settings: ServiceAreaSettings) -> Projector:
    """Metric projector for the service area (centre of the admin areas or buildings)."""
    row = conn.execute(
        text("""
        SELECT ST_X(c), ST_Y(c) FROM (
            SELECT ST_Centroid(ST_Extent(geom)::geometry) AS c FROM admin_areas
            UNION ALL
            SELECT ST_Centroid(ST_Extent(geom)::geometry) FROM buildings
        ) s WHERE c IS NOT NULL LIMIT 1
    """)
    ).first()
    lon, lat = (row[0], row[1]) if row else (118.05, 36.8)
    return Projector.for_area(lon, lat, settings.metric_epsg)


def community_codes(conn: Connection, codes: Sequence[str] | None = None) -> list[str]:
    """Codes of communities (all, or the given ones checked to exist)."""
    have = (
        conn.execute(text("SELECT code FROM admin_areas WHERE level = 'community' ORDER BY code"))
        .scalars()
        .all()
    )
    if codes is None:
        return list(have)
    missing = sorted(set(codes) - set(have))
    if missing:
        raise NotFound(f"unknown community code(s): {', '.join(missing[:5])}")
    return sorted(set(codes))


def communities_frame(
    conn: Connection, proj: Projector, codes: Sequence[str] | None
) -> gpd.GeoDataFrame:
    """Communities (code, name, metric geometry)."""
    sql = "SELECT code, name, ST_AsBinary(geom) AS wkb FROM admin_areas WHERE level = 'community'"
    params = {}
    if codes is not None:
        sql += " AND code = ANY(:codes)"
        params["codes"] = list(codes)
    df = pd.DataFrame(
        conn.execute(text(sql + " ORDER BY code"), params).mappings().all(),
        columns=["code", "name", "wkb"],
    )
    geoms = valid_polygons(proj.to_metric(shapely.from_wkb(df["wkb"].values))) if len(df) else []
    return gpd.GeoDataFrame(df.drop(columns="wkb"), geometry=np.asarray(geoms, dtype=object))


def valid_polygons(geoms) -> np.ndarray:
    """``geoms`` with invalid ones (e.g. after reprojection) repaired to MultiPolygons."""
    geoms = np.asarray(geoms, dtype=object).copy()
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms[bad] = [as_multipolygon(g) for g in shapely.make_valid(geoms[bad])]
    return geoms


def buildings_frame(
    conn: Connection,
    plan_id: int,
    proj: Projector,
    communities: Sequence[str] | None = None,
    grid_ids: Sequence[int] | None = None,
) -> gpd.GeoDataFrame:
    """Buildings with households, their community and their grid in the plan (metric points)."""
    where, params = [], {"plan": plan_id}
    if communities is not None:
        where.append(f"{_COMMUNITY_OF} = ANY(:codes)")
        params["codes"] = list(communities)
    if grid_ids is not None:
        where.append("m.grid_id = ANY(:grids)")
        params["grids"] = [int(g) for g in grid_ids]
    sql = f"""
        SELECT b.id, b.code, b.households, COALESCE(b.population, 0) AS population,
               {_COMMUNITY_OF} AS community_code, m.grid_id,
               ST_AsBinary(ST_PointOnSurface(b.geom)) AS wkb
          FROM buildings b
          LEFT JOIN LATERAL (SELECT grid_id FROM grid_members
                              WHERE plan_id = :plan AND building_id = b.id) m ON true
         {"WHERE " + " AND ".join(where) if where else ""}
         ORDER BY b.id
    """
    rows = conn.execute(text(sql), params).mappings().all()
    df = pd.DataFrame(
        rows, columns=["id", "code", "households", "population", "community_code", "grid_id", "wkb"]
    ).set_index("id")
    geoms = proj.to_metric(shapely.from_wkb(df["wkb"].values)) if len(df) else []
    df["grid_id"] = df["grid_id"].astype("Float64").astype(float)
    return gpd.GeoDataFrame(df.drop(columns="wkb"), geometry=np.asarray(geoms, dtype=object))


def grids_frame(
    conn: Connection,
    plan_id: int,
    proj: Projector | None,
    communities: Sequence[str] | None = None,
    grid_ids: Sequence[int] | None = None,
) -> gpd.GeoDataFrame:
    """Grids of a plan (index id), geometry metric when ``proj`` is given, else lon/lat."""
    where, params = ["plan_id = :plan"], {"plan": plan_id}
    if communities is not None:
        where.append("community_code = ANY(:codes)")
        params["codes"] = list(communities)
    if grid_ids is not None:
        where.append("id = ANY(:grids)")
        params["grids"] = [int(g) for g in grid_ids]
    sql = f"""
        SELECT id, code, name, community_code, worker, locked, households, population, buildings,
               ST_AsBinary(geom) AS wkb
          FROM grids WHERE {" AND ".join(where)} ORDER BY code
    """
    cols = [*GRID_COLUMNS, "wkb"]
    df = pd.DataFrame(conn.execute(text(sql), params).mappings().all(), columns=cols).set_index(
        "id"
    )
    geoms = shapely.from_wkb(df["wkb"].values) if len(df) else np.empty(0, dtype=object)
    if proj is not None and len(df):
        geoms = valid_polygons(proj.to_metric(geoms))
    return gpd.GeoDataFrame(df.drop(columns="wkb"), geometry=np.asarray(geoms, dtype=object))


def barriers(conn: Connection, proj: Projector, bbox_geom=None) -> np.ndarray:
    """Arterial roads and rivers (river areas by their banks), metric lines."""
    params = {}
    clip = ""
    if bbox_geom is not None:
        clip = "AND geom && ST_Expand(ST_GeomFromWKB(:bbox, 4326), 0.001)"
        params["bbox"] = shapely.to_wkb(bbox_geom)
    sql = f"""
        SELECT ST_AsBinary(geom) FROM roads WHERE class = 'arterial' {clip}
        UNION ALL
        SELECT ST_AsBinary(CASE WHEN ST_Dimension(geom) = 2 THEN ST_Boundary(geom) ELSE geom END)
          FROM waterways WHERE ST_Dimension(geom) >= 1 {clip}
    """
    wkbs = conn.execute(text(sql), params).scalars().all()
    if not wkbs:
        return np.empty(0, dtype=object)
    metric = proj.to_metric(shapely.from_wkb(np.asarray(wkbs, dtype=object)))
    return np.asarray(metric, dtype=object)


def plan_data(
    conn: Connection,
    plan_id: int,
    proj: Projector,
    communities: Sequence[str] | None = None,
    grid_ids: Sequence[int] | None = None,
) -> PlanData:
    """Everything the evaluation needs, for the whole plan or a part of it."""
    grids = grids_frame(conn, plan_id, proj, communities, grid_ids)
    if grid_ids is not None:
        codes = sorted({c for c in grids["community_code"] if c})
        bld = buildings_frame(conn, plan_id, proj, grid_ids=grid_ids)
    else:
        codes = communities
        bld = buildings_frame(conn, plan_id, proj, communities)
    comm = communities_frame(conn, proj, codes)
    return PlanData(grids=grids, buildings=bld, communities=comm, barriers=barriers(conn, proj))


def insert_grids(conn: Connection, plan_id: int, rows: Sequence[dict]) -> dict[str, int]:
    """Insert grids; returns code → id.

    Rows are ``{code, community_code, geom (lon/lat), locked?, name?, worker?}``.
    """
    if not rows:
        return {}
    res = conn.execute(
        text("""
        INSERT INTO grids (plan_id, code, name, community_code, worker, locked, geom)
        SELECT :plan, t.code, t.name, t.cc, t.worker, t.locked,
               ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_GeomFromWKB(t.wkb, 4326)), 3))
          FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:ccs AS text[]),
                      CAST(:workers AS text[]), CAST(:locked AS boolean[]), CAST(:wkbs AS bytea[]))
               AS t(code, name, cc, worker, locked, wkb)
        RETURNING id, code
    """),
        {
            "plan": plan_id,
            "codes": [r["code"] for r in rows],
            "names": [r.get("name") for r in rows],
            "ccs": [r.get("community_code") for r in rows],
            "workers": [r.get("worker") for r in rows],
            "locked": [bool(r.get("locked", False)) for r in rows],
            "wkbs": [shapely.to_wkb(r["geom"]) for r in rows],
        },
    )
    return {code: gid for gid, code in res.all()}


def set_members(
    conn: Connection, plan_id: int, building_ids: Sequence[int], grid_ids: Sequence[int]
) -> None:
    """Put buildings into grids (replacing their previous grid in the plan)."""
    if not len(building_ids):
        return
    conn.execute(
        text("""
        INSERT INTO grid_members (plan_id, building_id, grid_id)
        SELECT :plan, t.b, t.g FROM unnest(CAST(:b AS int[]), CAST(:g AS int[])) AS t(b, g)
        ON CONFLICT (plan_id, building_id) DO UPDATE SET grid_id = EXCLUDED.grid_id
    """),
        {"plan": plan_id, "b": [int(x) for x in building_ids], "g": [int(x) for x in grid_ids]},
    )


def update_geometries(conn: Connection, ids: Sequence[int], geoms: Sequence) -> None:
    """Replace grid polygons (lon/lat)."""
    if not len(ids):
        return
    conn.execute(
        text("""
        UPDATE grids g
           SET geom = ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_GeomFromWKB(t.wkb, 4326)), 3))
          FROM unnest(CAST(:ids AS int[]), CAST(:wkbs AS bytea[])) AS t(id, wkb)
         WHERE g.id = t.id
    """),
        {"ids": [int(i) for i in ids], "wkbs": [shapely.to_wkb(g) for g in geoms]},
    )


def delete_grids(conn: Connection, ids: Sequence[int]) -> None:
    """Delete grids (their memberships go with them)."""
    if len(ids):
        conn.execute(text("DELETE FROM grids WHERE id = ANY(:ids)"), {"ids": [int(i) for i in ids]})


def members_by_grid(
    conn: Connection, plan_id: int, grid_ids: Sequence[int] | None = None
) -> dict[int, list[int]]:
    """Building ids per grid id."""
    only = "AND grid_id = ANY(:ids)" if grid_ids is not None else ""
    rows = conn.execute(
        text(f"""
        SELECT grid_id, array_agg(building_id ORDER BY building_id)
          FROM grid_members WHERE plan_id = :plan {only} GROUP BY grid_id
    """),
        {"plan": plan_id, "ids": [int(i) for i in (grid_ids or [])]},
    ).all()
    return {gid: list(b) for gid, b in rows}

"""A small synthetic district for grid-planning tests (imported by the other test_grid_* files).

Six communities of 600 m × 500 m near Zibo with mixed buildings (towers and
low-rise, a few empty), an arterial road through one community, one community
too small for a grid, one building above the upper bound, and an active plan
"现状网格" of one grid per community.
"""

from __future__ import annotations

import h3
import numpy as np
import shapely
from sqlalchemy import text

from geo.crs import Projector
from geo.h3cells import COLUMNS, SQL_COLUMNS, exact_cells

ORIGIN = (118.05, 36.80)
PROJ = Projector(32650)
COMMUNITIES = [f"37030300100{i}" for i in range(1, 7)]
SMALL = COMMUNITIES[5]
BIG_BUILDING_COMMUNITY = COMMUNITIES[1]
ROAD_COMMUNITY = COMMUNITIES[0]


def _origin_m():
    p = PROJ.to_metric(shapely.points(*ORIGIN))
    return p.x, p.y


def community_boxes():
    x0, y0 = _origin_m()
    boxes = []
    for i in range(6):
        cx, cy = x0 + (i % 3) * 600, y0 - (i // 3) * 500
        boxes.append(shapely.box(cx, cy, cx + 600, cy + 500))
    # a concave community: cut a notch so Voronoi cells get clipped awkwardly
    boxes[2] = boxes[2].difference(
        shapely.box(
            boxes[2].bounds[0] + 250,
            boxes[2].bounds[1],
            boxes[2].bounds[0] + 350,
            boxes[2].bounds[1] + 300,
        )
    )
    return boxes


def synth_buildings(seed: int = 7):
    """Rows (community, x, y, households) in metres."""
    rng = np.random.default_rng(seed)
    rows = []
    for code, box in zip(COMMUNITIES, community_boxes(), strict=True):
        n = 12 if code == SMALL else 260
        x0, y0, x1, y1 = box.bounds
        placed = 0
        while placed < n:
            x, y = rng.uniform(x0 + 10, x1 - 10), rng.uniform(y0 + 10, y1 - 10)
            if not box.contains(shapely.points(x, y).buffer(9)):
                continue
            if code == SMALL:
                hh = int(rng.integers(5, 15))
            else:
                r = rng.random()
                hh = (
                    int(rng.integers(100, 301))
                    if r < 0.05
                    else 0
                    if r < 0.15
                    else int(rng.integers(10, 41))
                )
            rows.append((code, x, y, hh))
            placed += 1
        if code == BIG_BUILDING_COMMUNITY:
            rows.append((code, x0 + 300, y0 + 250, 420))
    return rows


def load_synthetic_city(engine, seed: int = 7, with_incidents: bool = True) -> dict:
    """Fill an empty database; returns ids of interest."""
    boxes = community_boxes()
    with engine.begin() as conn:
        for code, box in zip(COMMUNITIES, boxes, strict=True):
            conn.execute(
                text("""
                INSERT INTO admin_areas (code, name, level, parent_code, geom)
                VALUES (:c, :n, 'community', '370303001', ST_Multi(ST_GeomFromWKB(:g, 4326)))
            """),
                {"c": code, "n": f"社区{code[-1]}", "g": shapely.to_wkb(PROJ.to_lonlat(box))},
            )
        rows = synth_buildings(seed)
        xy = np.array([(x, y) for _, x, y, _ in rows])
        polys = PROJ.to_lonlat(shapely.box(xy[:, 0] - 6, xy[:, 1] - 6, xy[:, 0] + 6, xy[:, 1] + 6))
        conn.execute(
            text("""
            INSERT INTO buildings (code, households, population, floors, kind, community_code, geom)
            SELECT t.code, t.hh, (t.hh * 2.6)::int, 3, 'residential', t.cc,
                   ST_GeomFromWKB(t.g, 4326)
              FROM unnest(CAST(:codes AS text[]), CAST(:hh AS int[]), CAST(:cc AS text[]),
                          CAST(:g AS bytea[])) WITH ORDINALITY AS t(code, hh, cc, g, k)
             ORDER BY t.k
        """),
            {
                "codes": [f"B{k:05d}" for k in range(len(rows))],
                "hh": [r[3] for r in rows],
                "cc": [r[0] for r in rows],
                "g": [shapely.to_wkb(p) for p in polys],
            },
        )
        b0 = boxes[0].bounds
        road = PROJ.to_lonlat(
            shapely.LineString([(b0[0] + 310, b0[1] - 50), (b0[0] + 290, b0[3] + 50)])
        )
        conn.execute(
            text("""
            INSERT INTO roads (name, class, geom)
            VALUES ('主干道', 'arterial', ST_Multi(ST_GeomFromWKB(:g, 4326)))
        """),
            {"g": shapely.to_wkb(road)},
        )
        plan = conn.execute(
            text("""
            INSERT INTO grid_plans (name, status, author, published_at)
            VALUES ('现状网格', 'active', 'demo', now()) RETURNING id
        """)
        ).scalar_one()
        for code, box in zip(COMMUNITIES, boxes, strict=True):
            gid = conn.execute(
                text("""
                INSERT INTO grids (plan_id, code, community_code, geom)
                VALUES (:p, :code, :cc, ST_Multi(ST_GeomFromWKB(:g, 4326))) RETURNING id
            """),
                {
                    "p": plan,
                    "code": code + "001",
                    "cc": code,
                    "g": shapely.to_wkb(PROJ.to_lonlat(box)),
                },
            ).scalar_one()
            conn.execute(
                text("""
                INSERT INTO grid_members (plan_id, building_id, grid_id)
                SELECT :p, id, :g FROM buildings WHERE community_code = :cc
            """),
                {"p": plan, "g": gid, "cc": code},
            )
        if with_incidents:
            rng = np.random.default_rng(seed)
            pts = []
            for k in range(200):
                x0, y0, x1, y1 = boxes[k % 6].bounds
                pts.append(shapely.points(rng.uniform(x0, x1), rng.uniform(y0, y1)))
            lonlat = PROJ.to_lonlat(np.array(pts))
            conn.execute(
                text(f"""
                INSERT INTO incidents (external_id, source, category, occurred_at, h3,
                                       {SQL_COLUMNS}, geom)
                SELECT 'E' || t.k, '12345', 'other', now(), t.h3,
                       {", ".join(f"t.{c}" for c in COLUMNS)}, ST_GeomFromWKB(t.g, 4326)
                  FROM unnest(CAST(:g AS bytea[]), CAST(:h3 AS bigint[]),
                              {", ".join(f"CAST(:{c} AS bigint[])" for c in COLUMNS)})
                       WITH ORDINALITY AS t(g, h3, {SQL_COLUMNS}, k)
            """),
                {"g": [shapely.to_wkb(p) for p in lonlat],
                 "h3": [h3.str_to_int(h3.latlng_to_cell(p.y, p.x, 12)) for p in lonlat],
                 **{c: v.tolist() for c, v in exact_cells(shapely.get_x(lonlat),
                                                          shapely.get_y(lonlat)).items()}},
            )
    from geo.io import membership

    with engine.begin() as conn:
        membership.refresh_stats(conn, plan)
    return {"active": plan}

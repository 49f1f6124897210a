"""The planner's split and merge as the map page uses them, on the small demo: a split
keeps the grid's name and worker, a merge leaves no hole (no zero-area sliver)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shapely
from sqlalchemy import Engine, text

from geo.db.engine import make_engine
from geo.gridplan import plans
from geo.gridplan.edits import apply_edit
from geo.gridplan.settings import GridPlanSettings
from geo.settings import DatabaseSettings, ServiceAreaSettings


@pytest.fixture()
def draft(small_demo_copy: DatabaseSettings) -> Iterator[tuple[Engine, int]]:
    engine = make_engine(small_demo_copy)
    with engine.begin() as conn:
        active = conn.execute(text(
            "SELECT id FROM grid_plans WHERE status = 'active'")).scalar_one()
        plan = plans.create_plan(conn, "草案", from_plan=active, author="tester")
    yield engine, plan
    engine.dispose()


def _grid(engine: Engine, plan: int, code: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT code, name, worker, ST_AsBinary(geom) AS wkb FROM grids "
            "WHERE plan_id = :p AND code = :c"), {"p": plan, "c": code}).mappings().one())


def test_split_keeps_name_and_worker_in_every_part(draft: tuple[Engine, int]) -> None:
    engine, plan = draft
    with engine.connect() as conn:
        g = conn.execute(text(
            "SELECT code, name, worker FROM grids WHERE plan_id = :p AND buildings >= 6 "
            "ORDER BY households DESC LIMIT 1"), {"p": plan}).mappings().one()
    assert g["name"] and g["worker"]
    out = apply_edit(engine, plan, {"op": "split", "grid": g["code"], "k": 3}, actor="tester",
                     settings=GridPlanSettings(), area=ServiceAreaSettings())
    parts = [_grid(engine, plan, c) for c in out["touched"]]
    assert len(parts) == 3
    assert all(p["worker"] == g["worker"] for p in parts)
    names = {p["code"]: p["name"] for p in parts}
    assert names[g["code"]] == g["name"]
    others = sorted(n for c, n in names.items() if c != g["code"])
    assert others == [f"{g['name']}（2）", f"{g['name']}（3）"]


def test_merge_leaves_no_hole(draft: tuple[Engine, int]) -> None:
    """Neighbouring grids whose shared edge does not match to the last digit (a notch of a
    few centimetres in one of them, as edits and imports leave) merge without a hole."""
    engine, plan = draft
    with engine.begin() as conn:
        a, b = conn.execute(text("""
            SELECT x.code, y.code FROM grids x JOIN grids y
              ON x.plan_id = y.plan_id AND x.id < y.id AND x.community_code = y.community_code
             AND ST_Length(ST_Intersection(ST_Boundary(x.geom), ST_Boundary(y.geom))) > 0
            WHERE x.plan_id = :p ORDER BY x.code, y.code LIMIT 1"""), {"p": plan}).one()
        # Bite 10 cm out of b's side of the shared edge, away from its ends.
        conn.execute(text("""
            UPDATE grids y SET geom = ST_Multi(ST_Difference(y.geom, ST_Buffer(
                ST_LineInterpolatePoint(ST_GeometryN(ST_LineMerge(ST_CollectionExtract(
                    ST_Intersection(ST_Boundary(x.geom), ST_Boundary(y.geom)), 2)), 1), 0.5),
                0.000001)))
            FROM grids x WHERE x.plan_id = :p AND x.code = :a AND y.plan_id = :p AND y.code = :b
        """), {"p": plan, "a": a, "b": b})
    out = apply_edit(engine, plan, {"op": "merge", "grids": [a, b]}, actor="tester",
                     settings=GridPlanSettings(), area=ServiceAreaSettings())
    ev = {g["code"]: g for g in out["evaluation"]["grids"]}
    (kept,) = out["touched"]
    assert ev[kept]["holes"] == 0, ev[kept]
    geom = shapely.from_wkb(_grid(engine, plan, kept)["wkb"])
    assert shapely.get_num_interior_rings(shapely.get_parts(geom)).sum() == 0


def test_merge_keeps_an_enclave_as_a_hole(draft: tuple[Engine, int]) -> None:
    """A hole that is another grid of the plan is real and stays."""
    engine, plan = draft
    with engine.begin() as conn:
        a, b = conn.execute(text("""
            SELECT x.code, y.code FROM grids x JOIN grids y
              ON x.plan_id = y.plan_id AND x.id < y.id AND x.community_code = y.community_code
             AND ST_Length(ST_Intersection(ST_Boundary(x.geom), ST_Boundary(y.geom))) > 0
            WHERE x.plan_id = :p ORDER BY x.code DESC, y.code LIMIT 1"""), {"p": plan}).one()
        # A small grid of the plan inside a, cut out of it.
        conn.execute(text("""
            WITH c AS (SELECT ST_Buffer(ST_PointOnSurface(geom), 0.0001) AS g FROM grids
                       WHERE plan_id = :p AND code = :a)
            UPDATE grids SET geom = ST_Multi(ST_Difference(geom, (SELECT g FROM c)))
            WHERE plan_id = :p AND code = :a"""), {"p": plan, "a": a})
        conn.execute(text("""
            INSERT INTO grids (plan_id, code, name, community_code, geom)
            SELECT :p, 'ENCLAVE', '飞地', community_code,
                   ST_Multi(ST_Buffer(ST_PointOnSurface(geom), 0.0001))
            FROM grids WHERE plan_id = :p AND code = :b"""), {"p": plan, "b": b})
        conn.execute(text("""
            UPDATE grids SET geom = ST_Multi(ST_Buffer(ST_PointOnSurface(g.geom), 0.0001))
            FROM (SELECT geom FROM grids WHERE plan_id = :p AND code = :a) g
            WHERE plan_id = :p AND code = 'ENCLAVE'"""), {"p": plan, "a": a})
    out = apply_edit(engine, plan, {"op": "merge", "grids": [a, b]}, actor="tester",
                     settings=GridPlanSettings(), area=ServiceAreaSettings())
    (kept,) = out["touched"]
    geom = shapely.from_wkb(_grid(engine, plan, kept)["wkb"])
    assert shapely.get_num_interior_rings(shapely.get_parts(geom)).sum() == 1

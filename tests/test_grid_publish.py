"""Publishing a grid plan: every incident ends up in the grid the plain spatial lookup gives
(kept grids, redistricted grids, outside every grid, ties between grids), and a refused or
rolled-back publish changes no incident."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo.db.engine import make_engine
from geo.errors import PlanConflict
from geo.gridplan import plans
from geo.gridplan.redistrict import RedistrictParams, redistrict
from geo.h3cells import SQL_COLUMNS, SQL_PARAMS, cells_of
from geo.settings import ServiceAreaSettings

# The reference: the lowest-id grid of the plan that intersects the incident, one incident at
# a time, written independently of geo.gridplan.plans.
LOOKUP = """
    SELECT i.id, (SELECT g.id FROM grids g
                   WHERE g.plan_id = :plan AND ST_Intersects(g.geom, i.geom)
                   ORDER BY g.id LIMIT 1)
      FROM incidents i
"""


def lookup(conn, plan: int) -> dict[int, int | None]:
    return dict(conn.execute(text(LOOKUP), {"plan": plan}).all())


def grid_of_incidents(conn) -> dict[int, int | None]:
    return dict(conn.execute(text("SELECT id, grid_id FROM incidents")).all())


def add_incident(conn, x: float, y: float, grid_id: int | None = None) -> int:
    return conn.execute(
        text(f"""
        INSERT INTO incidents (external_id, source, category, occurred_at, h3,
                               {SQL_COLUMNS}, grid_id, geom)
        VALUES ('publish-' || gen_random_uuid(), 'other', 'other', now(), 0,
                {SQL_PARAMS}, :grid,
                ST_SetSRID(ST_MakePoint(:x, :y), 4326))
        RETURNING id
    """),
        {"x": x, "y": y, "grid": grid_id, **cells_of(x, y)},
    ).scalar_one()


@pytest.fixture()
def demo(small_demo_copy):
    engine = make_engine(small_demo_copy)
    with engine.connect() as conn:
        active = conn.execute(text("SELECT id FROM grid_plans WHERE status = 'active'")).scalar()
    yield engine, active
    engine.dispose()


@pytest.fixture()
def redistricted(demo):
    """The demo with a draft in which two communities were redistricted, the rest kept."""
    engine, active = demo
    with engine.begin() as conn:
        codes = (
            conn.execute(
                text("""
            SELECT community_code FROM grids WHERE plan_id = :p
             GROUP BY community_code ORDER BY count(*) DESC, community_code LIMIT 2
        """),
                {"p": active},
            )
            .scalars()
            .all()
        )
        draft = plans.create_plan(conn, "redistricted", active)
    redistrict(engine, draft, RedistrictParams(), communities=codes, area=ServiceAreaSettings())
    return engine, active, draft


def test_publish_gives_every_incident_its_spatial_lookup(redistricted):
    engine, active, draft = redistricted
    with engine.begin() as conn:
        # Incidents that did not come through ingest: outside every grid, inside a grid but
        # not yet assigned, and pointing at a grid of another plan (the draft).
        x1, y1 = conn.execute(
            text("SELECT ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM grids) s")
        ).one()
        far = [add_incident(conn, x1 + 0.01 * k, y1 + 0.01) for k in range(1, 4)]
        first, last = conn.execute(
            text("SELECT min(id), max(id) FROM grids WHERE plan_id = :p"), {"p": draft}
        ).one()
        cx, cy = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) AS c "
                "FROM grids WHERE id = :g) s"
            ),
            {"g": first},
        ).one()
        unassigned = add_incident(conn, cx, cy)
        stale = add_incident(conn, cx, cy, grid_id=last)
        # How each incident's current grid fares in the draft: kept (an identical grid of the
        # same community exists) or changed.
        kept = set(
            conn.execute(
                text("""
            SELECT i.id FROM incidents i JOIN grids o ON o.id = i.grid_id AND o.plan_id = :a
             WHERE EXISTS (SELECT 1 FROM grids n WHERE n.plan_id = :d
                              AND n.community_code = o.community_code AND ST_Equals(n.geom, o.geom))
        """),
                {"a": active, "d": draft},
            ).scalars()
        )
        before = grid_of_incidents(conn)
        expected = lookup(conn, draft)
    outside = {i for i, g in expected.items() if g is None}
    changed = {i for i, g in before.items() if g is not None and i not in kept} - outside
    assert len(kept) > 1000 and len(changed) > 1000, (len(kept), len(changed))
    assert set(far) <= outside and expected[unassigned] is not None
    assert stale not in kept and expected[stale] != last

    with engine.begin() as conn:
        res = plans.publish(conn, draft, "tester")
    with engine.connect() as conn:
        after = grid_of_incidents(conn)
        status = dict(conn.execute(text("SELECT id, status FROM grid_plans")).all())
    assert status[active] == "archived" and status[draft] == "active"
    for name, ids in (("kept", kept), ("changed", changed), ("outside", outside)):
        wrong = [i for i in ids if after[i] != expected[i]]
        assert wrong == [], f"{len(wrong)} {name} incidents differ from the lookup"
    assert after == expected
    # The count is of incidents whose grid_id changed (ids are per plan: nearly all of them).
    assert res["incidents_reassigned"] == sum(after[i] != before[i] for i in after)
    assert res["incidents_reassigned"] == len(after) - len(outside) + sum(
        before[i] is not None for i in outside
    )


def _touching_pair(conn, plan: int, exclude: tuple[int, ...] = ()) -> tuple[int, int, float, float]:
    """Two grids of ``plan`` (lower id first) and a vertex of the first lying in the second."""
    return conn.execute(
        text("""
        SELECT a.id, b.id, ST_X(p.geom), ST_Y(p.geom)
          FROM grids a
          JOIN grids b ON b.plan_id = a.plan_id AND b.id > a.id AND ST_Intersects(a.geom, b.geom)
         CROSS JOIN LATERAL ST_DumpPoints(a.geom) p
         WHERE a.plan_id = :plan AND ST_Intersects(b.geom, p.geom)
           AND a.id <> ALL(:ex) AND b.id <> ALL(:ex)
           AND (SELECT count(*) FROM grids e
                 WHERE e.plan_id = a.plan_id AND ST_Intersects(e.geom, p.geom)) = 2
         ORDER BY a.id, b.id, p.path LIMIT 1
    """),
        {"plan": plan, "ex": list(exclude)},
    ).one()


def _twin(conn, old_grid: int, draft: int) -> int:
    return conn.execute(
        text(
            "SELECT n.id FROM grids n JOIN grids o ON o.code = n.code "
            "WHERE o.id = :o AND n.plan_id = :d"
        ),
        {"o": old_grid, "d": draft},
    ).scalar_one()


def test_ties_go_to_the_lowest_grid_id_of_the_new_plan(demo):
    """Kept grids whose id order flips between plans, and a changed lower-id grid that
    grows over a kept one: the join from old to new grid must not win over the lookup."""
    engine, active = demo
    with engine.begin() as conn:
        draft = plans.create_plan(conn, "ties", active)
        # 1. A vertex shared by kept grids A < B; in the draft A's copy is re-created, so it
        #    comes after B's. The old plan gave the point to A, the new one must give it to B.
        a, b, x, y = _touching_pair(conn, active)
        on_edge = add_incident(conn, x, y)
        new_a = _twin(conn, a, draft)
        conn.execute(
            text("""
            WITH gone AS (DELETE FROM grids WHERE id = :g RETURNING *)
            INSERT INTO grids (plan_id, code, name, community_code, worker, locked, geom,
                               households, population, buildings)
            SELECT plan_id, code, name, community_code, worker, locked, geom,
                   households, population, buildings FROM gone
        """),
            {"g": new_a},
        )
        new_a, new_b = _twin(conn, a, draft), _twin(conn, b, draft)
        assert new_a > new_b
        # 2. A changed grid C of the draft with a lower id than its kept neighbour D grows
        #    over all of D: D's incidents now lie in C first.
        c, d, _, _ = _touching_pair(conn, draft, exclude=(new_a, new_b))
        conn.execute(
            text("""
            UPDATE grids SET geom = ST_Multi(ST_Union(geom, (SELECT geom FROM grids WHERE id = :d)))
             WHERE id = :c
        """),
            {"c": c, "d": d},
        )
        plans.reassign_incidents(conn, active)  # the old plan's lookup, as ingest leaves it
        old_of_d = conn.execute(
            text(
                "SELECT o.id FROM grids o JOIN grids n ON n.code = o.code "
                "WHERE n.id = :d AND o.plan_id = :a"
            ),
            {"d": d, "a": active},
        ).scalar_one()
        in_d = set(
            conn.execute(
                text("SELECT id FROM incidents WHERE grid_id = :g"), {"g": old_of_d}
            ).scalars()
        )
        before = grid_of_incidents(conn)
        expected = lookup(conn, draft)
    assert before[on_edge] == a and expected[on_edge] == new_b
    assert len(in_d) > 10 and {expected[i] for i in in_d} == {c}

    with engine.begin() as conn:
        plans.publish(conn, draft, "tester")
    with engine.connect() as conn:
        after = grid_of_incidents(conn)
    assert after[on_edge] == new_b
    assert {after[i] for i in in_d} == {c}
    assert after == expected


def _state(engine) -> tuple[dict, dict]:
    """Every incident's grid, and every plan's (status, version)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status, version FROM grid_plans")).all()
        return grid_of_incidents(conn), {r.id: (r.status, r.version) for r in rows}


def test_refused_or_rolled_back_publish_changes_no_incident(redistricted, small_demo_copy):
    engine, _, draft = redistricted
    snapshot = _state(engine)
    version = snapshot[1][draft][1]
    with engine.begin() as conn, pytest.raises(PlanConflict):
        plans.publish(conn, draft, "tester", if_match=version - 1)
    assert _state(engine) == snapshot

    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=small_demo_copy))
    with TestClient(app) as client:
        r = client.post(
            f"/api/v1/grid-plans/{draft}/publish", headers={"If-Match": f'"{version - 1}"'}
        )
    assert r.status_code == 412 and r.json()["code"], r.text
    assert _state(engine) == snapshot

    # Publishing and then failing in the same transaction leaves everything as it was.
    with pytest.raises(RuntimeError), engine.begin() as conn:
        assert plans.publish(conn, draft, "tester", if_match=version)["incidents_reassigned"] > 0
        raise RuntimeError("after the publish")
    assert _state(engine) == snapshot

"""Publishing a grid plan: every incident ends up in the grid the plain spatial lookup gives
(kept grids, redistricted grids, outside every grid, ties between grids), only the incidents of
changed grids are written, and a refused, failed or rolled-back publish changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
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


def strtree_lookup(conn, plan: int) -> dict[int, int | None]:
    """The same lookup in GEOS from the client side: an STRtree over the plan's grids, every
    incident's point against it, the lowest grid id among those it intersects."""
    grids = conn.execute(
        text("SELECT id, ST_AsBinary(geom) FROM grids WHERE plan_id = :p"), {"p": plan}
    ).all()
    ids = np.array([g[0] for g in grids])
    tree = shapely.STRtree(shapely.from_wkb([bytes(g[1]) for g in grids]))
    rows = conn.execute(text("SELECT id, ST_X(geom), ST_Y(geom) FROM incidents")).all()
    points = shapely.points([r[1] for r in rows], [r[2] for r in rows])
    pt, gi = tree.query(points, predicate="intersects")
    out: dict[int, int | None] = {r[0]: None for r in rows}
    for p_, g_ in zip(pt.tolist(), ids[gi].tolist(), strict=True):
        key = rows[p_][0]
        out[key] = g_ if out[key] is None else min(out[key], g_)
    return out


def xmins(conn) -> dict[int, str]:
    """Each incident's row version: it changes when the row is written."""
    return dict(conn.execute(text("SELECT id, xmin::text FROM incidents")).all())


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
        versions = xmins(conn)
    changed = {i for i, g in before.items() if g is not None and i not in kept}
    assert len(kept) > 1000 and len(changed) > 1000, (len(kept), len(changed))

    with engine.begin() as conn:
        res = plans.publish(conn, draft, "tester")
    with engine.connect() as conn:
        after = grid_of_incidents(conn)
        expected = lookup(conn, draft)
        independent = strtree_lookup(conn, draft)
        status = dict(conn.execute(text("SELECT id, status FROM grid_plans")).all())
        written = {i for i, v in xmins(conn).items() if v != versions[i]}
    assert status[active] == "archived" and status[draft] == "active"
    assert independent == expected  # the two references agree with each other
    outside = {i for i, g in expected.items() if g is None}
    assert set(far) <= outside and expected[unassigned] is not None
    assert after[stale] == expected[stale] is not None
    for name, ids in (("kept", kept), ("changed", changed), ("outside", outside)):
        wrong = [i for i in ids if after[i] != independent[i]]
        assert wrong == [], f"{len(wrong)} {name} incidents differ from the lookup"
    assert after == independent
    # Kept grids keep their id: their incidents are not written; the count is of rows written.
    assert all(after[i] == before[i] for i in kept)
    assert written == {i for i in after if after[i] != before[i]}
    assert res["incidents_reassigned"] == len(written)
    assert not written & kept and written <= changed | outside | {unassigned, stale}
    # A changed grid takes its successor's id: of the incidents of changed grids, only those
    # leaving it are written.
    assert len(written) < len(changed)
    assert res["grids_kept"] > 0 and res["grids_changed"] > 0


def test_publishing_one_changed_community_touches_only_its_incidents(demo):
    """A draft that redistricts one community: only incidents in that community's grids (old
    or new) are written, counted by their row versions; all others keep grid and row."""
    engine, active = demo
    with engine.begin() as conn:
        code = conn.execute(
            text("""
            SELECT community_code FROM grids WHERE plan_id = :p AND community_code IS NOT NULL
             GROUP BY community_code HAVING count(*) > 2 ORDER BY count(*) DESC LIMIT 1
        """),
            {"p": active},
        ).scalar_one()
        draft = plans.create_plan(conn, "one community", active)
    redistrict(engine, draft, RedistrictParams(), communities=[code], area=ServiceAreaSettings())
    with engine.connect() as conn:
        before = grid_of_incidents(conn)
        versions = xmins(conn)
        # That community's incidents: inside one of its grids in either plan.
        ours = set(
            conn.execute(
                text("""
            SELECT DISTINCT i.id FROM incidents i JOIN grids g ON ST_Intersects(g.geom, i.geom)
             WHERE g.plan_id IN (:a, :d) AND g.community_code = :c
        """),
                {"a": active, "d": draft, "c": code},
            ).scalars()
        )
    with engine.begin() as conn:
        res = plans.publish(conn, draft, "tester")
    with engine.connect() as conn:
        after = grid_of_incidents(conn)
        written = {i for i, v in xmins(conn).items() if v != versions[i]}
        expected = strtree_lookup(conn, draft)
    others = set(before) - ours
    assert len(ours) > 100 and len(others) > 3 * len(ours), (len(ours), len(others))
    assert written and written <= ours
    assert res["incidents_reassigned"] == len(written)
    assert all(after[i] == before[i] for i in others)
    assert after == expected


def _touching(conn, plan: int) -> tuple[int, int]:
    """Two grids of ``plan`` sharing more than a point, lower id first."""
    return conn.execute(
        text("""
        SELECT a.id, b.id FROM grids a
          JOIN grids b ON b.plan_id = a.plan_id AND b.id > a.id
                      AND ST_Dimension(ST_Intersection(a.geom, b.geom)) >= 1
         WHERE a.plan_id = :plan
         ORDER BY a.id, b.id LIMIT 1
    """),
        {"plan": plan},
    ).one()


def _by_code(conn, plan: int, code: str) -> int:
    return conn.execute(
        text("SELECT id FROM grids WHERE plan_id = :p AND code = :c"), {"p": plan, "c": code}
    ).scalar_one()


def _code(conn, grid: int) -> str:
    return conn.execute(text("SELECT code FROM grids WHERE id = :g"), {"g": grid}).scalar_one()


def test_a_changed_grid_with_a_lower_id_takes_incidents_of_a_kept_one(demo):
    """Ties follow the lowest id of the new plan, also when a kept grid carries a higher id
    than a changed neighbour: draft 1 is copied first, draft 2 replaces grid K and is
    published (K gets draft 2's higher id), then draft 1 takes K as it is now and grows its
    lower-id neighbour C over it (C takes the id of its predecessor, lower than K's). K's
    incidents must go to C, as the lookup says."""
    engine, active = demo
    with engine.begin() as conn:
        k_old, c_old = _touching(conn, active)
        k_code, c_code = _code(conn, k_old), _code(conn, c_old)
        d1 = plans.create_plan(conn, "first", active)
        d2 = plans.create_plan(conn, "second", active)
        # Draft 2: K's geometry written the other way round and its buildings let go: a new
        # grid that succeeds none (it keeps draft 2's higher id), with the same shape.
        k2 = _by_code(conn, d2, k_code)
        conn.execute(text("UPDATE grids SET geom = ST_Reverse(geom) WHERE id = :g"), {"g": k2})
        conn.execute(text("DELETE FROM grid_members WHERE grid_id = :g"), {"g": k2})
        plans.publish(conn, d2, "tester")
        k_active = _by_code(conn, d2, k_code)
        in_k = set(
            conn.execute(
                text("SELECT id FROM incidents WHERE grid_id = :g"), {"g": k_active}
            ).scalars()
        )
        # Draft 1: K as it is in draft 2 (kept), C grown over K (changed, lower id than K).
        k1, c1 = _by_code(conn, d1, k_code), _by_code(conn, d1, c_code)
        conn.execute(
            text("UPDATE grids SET geom = (SELECT geom FROM grids WHERE id = :k2) WHERE id = :k"),
            {"k": k1, "k2": k_active},
        )
        conn.execute(
            text("""
            UPDATE grids SET geom = ST_Multi(ST_Union(geom, (SELECT geom FROM grids WHERE id = :k)))
             WHERE id = :c
        """),
            {"c": c1, "k": k1},
        )
    assert len(in_k) > 10 and k_active == k2 and c_old < c1 < k_active
    with engine.begin() as conn:
        res = plans.publish(conn, d1, "tester")
    with engine.connect() as conn:
        after = grid_of_incidents(conn)
        expected = strtree_lookup(conn, d1)
        assert _by_code(conn, d1, k_code) == k_active  # K kept its id across the plans
        # C changed, and took the id of the grid it succeeds (the same buildings), lower still.
        assert _by_code(conn, d1, c_code) == c_old < k_active
    assert {after[i] for i in in_k} == {c_old}
    assert after == expected
    assert res["grids_changed"] >= 1 and res["grids_kept"] > 1


def _state(engine) -> tuple[dict, dict, dict]:
    """Every incident's grid, every plan's (status, version), every grid's (plan, code)."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status, version FROM grid_plans")).all()
        grids = conn.execute(text("SELECT id, plan_id, code FROM grids")).all()
        return (
            grid_of_incidents(conn),
            {r.id: (r.status, r.version) for r in rows},
            {g.id: (g.plan_id, g.code) for g in grids},
        )


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

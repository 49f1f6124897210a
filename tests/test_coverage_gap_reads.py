"""Stored coverage gaps as the map reads them: a 0 m nearest camera explains itself, and a
planner's draft edits do not make every read recompute the city's gaps."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from geo.coverage.gapstore import Refresher, gap_features, gaps_stale, refresh_gaps
from geo.coverage.settings import CoverageSettings
from geo.coverage.views import refresh_all
from geo.db.engine import make_engine
from geo.gridplan import plans
from geo.gridplan.edits import apply_edit
from geo.gridplan.settings import GridPlanSettings
from geo.h3cells import SQL_COLUMNS, SQL_PARAMS, cells_of
from geo.settings import DatabaseSettings, ServiceAreaSettings


@pytest.fixture()
def covered(small_demo_copy: DatabaseSettings) -> Iterator[Engine]:
    engine = make_engine(small_demo_copy)
    refresh_all(engine, settings=CoverageSettings(), area=ServiceAreaSettings())
    refresh_gaps(engine, settings=CoverageSettings(), area=ServiceAreaSettings())
    yield engine
    engine.dispose()


def test_a_camera_0_m_from_a_gap_is_flagged_as_standing_in_it(covered: Engine) -> None:
    """0 m means the camera stands in or on the gap (its own unseen ground), and says so;
    the flag agrees with PostGIS and the distance with PostGIS's geodesic distance."""
    feats = gap_features(covered, limit=10_000, settings=CoverageSettings(),
                         area=ServiceAreaSettings())["features"]
    assert len(feats) > 50
    with covered.connect() as conn:
        truth = {r.id: r for r in conn.execute(text("""
            SELECT g.id, ST_Distance(c.geom::geography, g.geom::geography) AS metres
            FROM coverage_gaps g JOIN cameras c ON c.id = g.nearest_camera_id
            WHERE g.area_m2 >= :a"""), {"a": feats[0]["properties"].get("area_floor", 0)})}
    zero = [f["properties"] for f in feats if f["properties"]["nearest_camera_m"] < 0.5]
    assert zero, "the small demo has cameras whose own blind ground is a gap"
    assert all(p["camera_inside"] is True for p in zero)
    for f in feats:
        p, t = f["properties"], truth[f["id"]]
        assert p["camera_inside"] == (p["nearest_camera_m"] < 0.5)
        if t.metres > 1.0:  # PostGIS sees the camera clearly off the gap: not flagged
            assert not p["camera_inside"]
        assert p["nearest_camera_m"] == pytest.approx(t.metres, abs=1.0, rel=0.01)


def test_a_draft_edit_does_not_make_the_stored_gaps_stale(covered: Engine) -> None:
    with covered.begin() as conn:
        active = conn.execute(text(
            "SELECT id FROM grid_plans WHERE status = 'active'")).scalar_one()
        draft = plans.create_plan(conn, "草案", from_plan=active, author="tester")
        code = conn.execute(text(
            "SELECT code FROM grids WHERE plan_id = :p AND households > 0 ORDER BY code LIMIT 1"),
            {"p": draft}).scalar_one()
    with covered.connect() as conn:
        assert not gaps_stale(conn)
    apply_edit(covered, draft, {"op": "lock", "grid": code}, actor="tester",
               settings=GridPlanSettings(), area=ServiceAreaSettings())
    with covered.connect() as conn:
        assert not gaps_stale(conn), "a draft plan's edit would recompute every gap"
        stamp = conn.execute(text("SELECT max(computed_at) FROM coverage_gaps")).scalar_one()
    assert gap_features(covered, limit=5, settings=CoverageSettings(),
                        area=ServiceAreaSettings())["features"]
    with covered.connect() as conn:
        now = conn.execute(text("SELECT max(computed_at) FROM coverage_gaps")).scalar_one()
    assert now == stamp


def test_stale_gaps_are_served_at_once_and_refreshed_in_the_background(
        small_demo_copy: DatabaseSettings) -> None:
    engine = make_engine(small_demo_copy)
    try:
        refresher = Refresher()
        refresh_all(engine, settings=CoverageSettings(), area=ServiceAreaSettings())
        # the demo stored gaps; bring them level with the new views
        refresh_gaps(engine, settings=CoverageSettings(), area=ServiceAreaSettings())
        first = gap_features(engine, limit=5, refresher=refresher, settings=CoverageSettings(),
                             area=ServiceAreaSettings())
        assert first["features"] and first["stale"] is False and not refresher.running
        with engine.begin() as conn:  # a new incident in the middle of the city
            conn.execute(text("""
                INSERT INTO incidents (external_id, source, category, occurred_at, geom, h3,
                                       """ + SQL_COLUMNS + """)
                SELECT 'gap-read-1', '12345', 'other', max(occurred_at),
                       ST_SetSRID(ST_MakePoint(118.05, 36.80), 4326), 0, """ + SQL_PARAMS + """
                FROM incidents"""), cells_of(118.05, 36.80))
            stamp = conn.execute(text("SELECT max(computed_at) FROM coverage_gaps")).scalar()
        t = time.perf_counter()
        again = gap_features(engine, limit=5, refresher=refresher, settings=CoverageSettings(),
                             area=ServiceAreaSettings())
        assert time.perf_counter() - t < 1.0
        assert again["stale"] is True
        assert [f["id"] for f in again["features"]] == [f["id"] for f in first["features"]]
        deadline = time.monotonic() + 120
        while refresher.running and time.monotonic() < deadline:
            time.sleep(0.2)
        with engine.connect() as conn:
            assert not gaps_stale(conn)
            assert conn.execute(text("SELECT max(computed_at) FROM coverage_gaps")).scalar() > stamp
        assert gap_features(engine, limit=5, refresher=refresher, settings=CoverageSettings(),
                            area=ServiceAreaSettings())["stale"] is False
    finally:
        engine.dispose()

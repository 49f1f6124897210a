"""Acceptance on the demo cities (ARCHITECTURE.md §6, §7): redistricting every community of the
``city`` demo into a new draft, and the change/keep-codes rules on a private copy of
the ``small`` demo."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from test_grid_packing import brute_force

from geo.db.engine import make_engine
from geo.gridplan import plan_views, plans
from geo.gridplan.diff import diff_plans
from geo.gridplan.redistrict import RedistrictParams, redistrict
from geo.gridplan.settings import GridPlanSettings
from geo.settings import ServiceAreaSettings

pytestmark = pytest.mark.slow



def milp_packs(weights, lo: float = 255, hi: float = 345) -> bool:
    """Whether ``weights`` split into groups each summing to [lo, hi]: an assignment model
    solved by CBC (pulp), written apart from the product's packing and its HiGHS models.
    Item i may only open groups 0..i (symmetry broken so infeasibility is proved fast)."""
    import pulp

    n, groups = len(weights), int(sum(weights) // lo)
    if groups == 0:
        return False
    m = pulp.LpProblem("packs", pulp.LpMinimize)
    x = {(i, g): pulp.LpVariable(f"x_{i}_{g}", cat="Binary")
         for i in range(n) for g in range(min(i + 1, groups))}
    y = [pulp.LpVariable(f"y_{g}", cat="Binary") for g in range(groups)]
    m += pulp.lpSum(y)
    for i in range(n):
        m += pulp.lpSum(x[i, g] for g in range(min(i + 1, groups))) == 1
    for g in range(groups):
        load = pulp.lpSum(weights[i] * x[i, g] for i in range(n) if (i, g) in x)
        m += load >= lo * y[g]
        m += load <= hi * y[g]
    m.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=120))
    assert pulp.LpStatus[m.status] in ("Optimal", "Infeasible"), pulp.LpStatus[m.status]
    return pulp.LpStatus[m.status] == "Optimal"


def test_milp_reference_agrees_with_brute_force():
    for w in ([150, 150, 200, 100], [300, 300], [200, 200, 200], [12, 250, 100, 100, 200]):
        assert milp_packs(w) is brute_force(w), w


@pytest.fixture(scope="module")
def city_redistricted(city_demo):
    engine = make_engine(city_demo)
    with engine.begin() as conn:
        active = conn.execute(text("SELECT id FROM grid_plans WHERE status = 'active'")).scalar()
        draft = plans.create_plan(conn, "acceptance: city redistricted", active, "pytest")
    report = redistrict(engine, draft, RedistrictParams(), actor="pytest",
                        area=ServiceAreaSettings())
    evaluation = plan_views.evaluate_plan(engine, draft, settings=GridPlanSettings(),
                                          area=ServiceAreaSettings())
    yield engine, active, draft, report, evaluation
    with engine.begin() as conn:  # leave the shared demo as we found it
        conn.execute(text("DELETE FROM grid_plans WHERE id = :p"), {"p": draft})
    engine.dispose()


def test_city_grids_within_band_where_feasible(city_redistricted):
    _, _, _, report, ev = city_redistricted
    s = ev["summary"]
    print("city redistricted:", {k: s[k] for k in (
        "grids", "feasible_grids", "within_band", "within_band_share", "undecided_grids",
        "undecided_outside_band", "within_band_share_decided", "mean_polsby_popper",
        "crossing_barrier")})
    # Issue 19 point 3: every community is either solved inside the band, proved infeasible
    # (reported with its kind, its grids leave the feasible share) or, where the exact search
    # ran out of budget, reported as undecided with its grids counted apart. Grids of the
    # decided feasible communities are all inside the band.
    assert s["within_band_share_decided"] == 1.0
    outside = s["feasible_grids"] - s["within_band"]
    assert outside == s["undecided_outside_band"], "every grid outside the band is accounted for"
    assert {d["community_code"] for d in report["undecided"]} == {
        d["community_code"] for d in ev["undecided"]}
    # The 0.99 counts the undecided grids as feasible (the floor is back: another
    # seed before the exact search, 4 of the 540 feasible grids outside, all undecided).
    assert s["within_band_share"] >= 0.99
    assert report["within_band_share"] == pytest.approx(s["within_band_share"])


def test_city_grids_contiguous_by_union_and_every_building_once(city_redistricted):
    engine, _, draft, _, ev = city_redistricted
    with engine.connect() as conn:
        parts = conn.execute(text("""
            SELECT max(ST_NumGeometries(ST_UnaryUnion(geom))) FROM grids WHERE plan_id = :p
        """), {"p": draft}).scalar()
        outside = conn.execute(text("""
            SELECT count(*) FROM grid_members m JOIN grids g ON g.id = m.grid_id
              JOIN buildings b ON b.id = m.building_id
             WHERE m.plan_id = :p AND NOT ST_Intersects(g.geom, ST_PointOnSurface(b.geom))
        """), {"p": draft}).scalar()
        counts = conn.execute(text("""
            SELECT (SELECT count(*) FROM buildings),
                   (SELECT count(*) FROM grid_members WHERE plan_id = :p),
                   (SELECT count(DISTINCT building_id) FROM grid_members WHERE plan_id = :p)
        """), {"p": draft}).one()
    assert parts == 1
    assert outside == 0
    assert counts[0] == counts[1] == counts[2]
    assert ev["summary"]["non_contiguous"] == 0 and ev["summary"]["unassigned_buildings"] == 0


def test_city_grids_tile_each_community(city_redistricted):
    engine, _, draft, _, ev = city_redistricted
    for c in ev["communities"]:
        assert c["grid_area_m2"] == pytest.approx(c["area_m2"], rel=1e-3), c
        assert c["overlap_m2"] <= 1e-3 * c["area_m2"] and c["gap_m2"] <= 1e-3 * c["area_m2"], c
    with engine.connect() as conn:  # the same check by PostGIS, independently of our code
        worst = conn.execute(text("""
            SELECT max(abs(s.area - ST_Area(a.geom::geography)) / ST_Area(a.geom::geography))
              FROM admin_areas a
              JOIN (SELECT community_code, sum(ST_Area(geom::geography)) AS area
                      FROM grids WHERE plan_id = :p GROUP BY community_code) s
                ON s.community_code = a.code
        """), {"p": draft}).scalar()
    assert worst < 1e-3


def test_city_infeasible_communities_are_reported(city_redistricted):
    engine, _, _, report, ev = city_redistricted
    kinds = {d["kind"] for d in ev["infeasible"]}
    assert kinds <= {
        "community_too_small", "no_grid_count_fits", "building_over_upper_bound",
        "no_grouping_fits", "no_contiguous_grouping_fits"}
    assert all(d["detail"] for d in ev["infeasible"])
    assert {d["kind"] for d in ev["infeasible"]} >= {"community_too_small", "no_grid_count_fits"}
    proved = [d for d in ev["infeasible"] if d["kind"] == "no_contiguous_grouping_fits"]
    assert proved, "the city demo has a tower community blocked by contiguity alone"
    with engine.connect() as conn:
        for d in ev["infeasible"]:
            if d["kind"] not in ("no_grouping_fits", "no_contiguous_grouping_fits"):
                continue
            hh = conn.execute(text("""
                SELECT households FROM buildings
                 WHERE community_code = :c AND households BETWEEN 1 AND 345
            """), {"c": d["community_code"]}).scalars().all()
            # households alone: shown by brute force, independently of packs()
            if d["kind"] == "no_grouping_fits":
                assert not (brute_force(hh) if len(hh) <= 10 else milp_packs(hh)), d
            elif len(hh) <= 10:
                assert brute_force(hh), d  # so contiguity, not households, is what blocks it
            assert d["alternatives"] and all(a["tolerance"] > 0.15 for a in d["alternatives"]), d

    for d in ev["infeasible"]:
        if d["kind"] == "community_too_small":
            c = next(x for x in ev["communities"] if x["community_code"] == d["community_code"])
            assert c["households"] < 255 and c["grids"] >= 1
    assert {d["community_code"] for d in report["infeasible"]} >= {
        d["community_code"] for d in ev["infeasible"] if d["kind"] != "no_grid_count_fits"}


def test_small_demo_repeatable_local_and_keeps_codes(small_demo_copy):
    engine = make_engine(small_demo_copy)
    try:
        with engine.begin() as conn:
            active = conn.execute(text("SELECT id FROM grid_plans WHERE status='active'")).scalar()
            a = plans.create_plan(conn, "a", active)
            b = plans.create_plan(conn, "b", active)
        redistrict(engine, a, RedistrictParams(), area=ServiceAreaSettings())
        redistrict(engine, b, RedistrictParams(), area=ServiceAreaSettings())
        with engine.connect() as conn:
            same = diff_plans(conn, a, b)
        assert same["added"] == same["removed"] == same["changed"] == []
        with engine.begin() as conn:
            code = conn.execute(text("""
                SELECT community_code FROM buildings WHERE households BETWEEN 10 AND 40
                 ORDER BY community_code DESC, id LIMIT 1
            """)).scalar()
            conn.execute(text("""
                UPDATE buildings SET households = households + 30
                 WHERE id = (SELECT min(id) FROM buildings
                              WHERE community_code = :c AND households BETWEEN 10 AND 40)
            """), {"c": code})
            c = plans.create_plan(conn, "c", a)
        redistrict(engine, c, RedistrictParams(), area=ServiceAreaSettings())
        with engine.connect() as conn:
            d = diff_plans(conn, a, c)
        touched = set(d["added"]) | set(d["removed"]) | set(d["changed"])
        assert touched and {t[: len(code)] for t in touched} == {code}
        assert d["unchanged"] > 0
    finally:
        engine.dispose()

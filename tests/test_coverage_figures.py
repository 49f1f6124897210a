"""Coverage figures against an independent lattice-and-sight-line computation."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from test_coverage_support import (
    add_area,
    add_building,
    add_camera,
    add_grid,
    add_incidents,
    add_place,
    add_road,
    seen_by_rays,
)

from geo.coverage.settings import CoverageSettings
from geo.coverage.summary import ResultCache, summary
from geo.coverage.views import refresh_all, refresh_cameras
from geo.errors import InvalidInput, NotFound
from geo.settings import ServiceAreaSettings

COMMUNITIES = {"C1": shapely.box(0, 0, 200, 300), "C2": shapely.box(200, 0, 400, 300)}
BUILDINGS = [
    shapely.box(20, 20, 60, 45), shapely.box(120, 40, 150, 90), shapely.box(230, 30, 270, 60),
    shapely.box(300, 180, 340, 230), shapely.box(60, 200, 90, 260),
    shapely.Polygon([(150, 180), (190, 180), (190, 240), (175, 240), (175, 195), (150, 195)]),
    shapely.box(250, 110, 265, 140), shapely.box(330, 60, 380, 90),
]
ROADS = [shapely.LineString([(0, 150), (400, 150)]), shapely.LineString([(100, 0), (100, 300)]),
         shapely.LineString([(210, 0), (390, 290)])]
CAMERAS = [
    dict(x=100, y=150, azimuth=90, fov=90, range_m=60, height_m=5, tilt=12, cls="A"),
    dict(x=100, y=150, azimuth=0, fov=60, range_m=80, height_m=6, tilt=8, cls="A", kind="face"),
    dict(x=240, y=100, kind="dome", fov=360, range_m=45, height_m=6, tilt=15, cls="B"),
    dict(x=320, y=150, azimuth=270, fov=100, range_m=70, height_m=4, tilt=10, cls="B"),
    dict(x=60, y=120, azimuth=200, fov=80, range_m=50, height_m=3, tilt=5, cls="C"),
    dict(x=300, y=250, azimuth=160, fov=70, range_m=60, height_m=5, tilt=10, cls="B"),
    dict(x=30, y=280, azimuth=120, fov=90, range_m=60, height_m=5, tilt=10, cls="B",
         status="offline"),
]
PLACE_POINT = (130, 160)
PLACE_POLY = shapely.box(280, 120, 300, 140)


def _incident_points(n=300, seed=3):
    rng = np.random.default_rng(seed)
    pts = rng.uniform([0, 0], [400, 300], (n * 2, 2))
    inside = shapely.STRtree(BUILDINGS).query(shapely.points(pts), predicate="within")[0]
    keep = np.setdiff1d(np.arange(len(pts)), inside)[:n]
    return pts[keep]


@pytest.fixture()
def world(empty_db):
    with empty_db.begin() as conn:
        add_area(conn, "D", "district", shapely.box(0, 0, 400, 300))
        add_area(conn, "S", "street", shapely.box(0, 0, 400, 300), parent="D")
        for code, geom in COMMUNITIES.items():
            add_area(conn, code, "community", geom, parent="S")
        for i, (x, y) in enumerate([(0, 0), (200, 0), (0, 150), (200, 150)]):
            add_grid(conn, f"G{i}", shapely.box(x, y, x + 200, y + 150), "C1" if x < 200 else "C2")
        for b in BUILDINGS:
            add_building(conn, b)
        for r in ROADS:
            add_road(conn, r)
        ids = [add_camera(conn, **{k: v for k, v in c.items()}) for c in CAMERAS]
        add_place(conn, shapely.Point(*PLACE_POINT), name="point school")
        add_place(conn, PLACE_POLY, name="square")
        add_place(conn, shapely.Point(390, 10), key=False, name="not key")
        add_incidents(conn, _incident_points())
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    return {"engine": empty_db, "ids": ids}


def _lattice(geom, step=0.4):
    x0, y0, x1, y1 = geom.bounds
    gx, gy = np.meshgrid(np.arange(x0, x1, step) + step / 2, np.arange(y0, y1, step) + step / 2)
    gx, gy = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(geom, gx, gy)
    free = ~shapely.contains_xy(shapely.union_all(BUILDINGS), gx, gy)
    keep = inside & free
    return gx[keep], gy[keep], step * step


def _cams(classes=None, offline=()):
    out = []
    for i, c in enumerate(CAMERAS):
        if classes and c["cls"] not in classes:
            continue
        c = dict(c)
        if i in offline:
            c["status"] = "offline"
        out.append(c)
    return out


def _independent_area(geom, cams):
    gx, gy, cell = _lattice(geom)
    return len(gx) * cell, seen_by_rays(gx, gy, cams, BUILDINGS).sum() * cell


def _independent_road(geom, cams, step=0.2):
    total = covered = 0.0
    for road in ROADS:
        piece = road.intersection(geom)
        if piece.is_empty:
            continue
        d = np.arange(step / 2, piece.length, step)
        pts = shapely.line_interpolate_point(piece, d)
        total += piece.length
        covered += seen_by_rays(shapely.get_x(pts), shapely.get_y(pts), cams, BUILDINGS).mean() \
            * piece.length
    return total, covered


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-9)


@pytest.mark.parametrize("level", ["community", "district"])
def test_area_and_road_figures_agree_with_independent_check(world, level):
    out = summary(world["engine"], level, settings=CoverageSettings(), area=ServiceAreaSettings())
    units = {u["code"]: u for u in out["units"]}
    for code, unit in units.items():
        geom = COMMUNITIES[code] if level == "community" else shapely.box(0, 0, 400, 300)
        public, covered = _independent_area(geom, _cams())
        assert _rel(unit["public_area_m2"], public) < 0.01
        assert _rel(unit["covered_area_m2"], covered) < 0.01
        road_total, road_cov = _independent_road(geom, _cams())
        assert _rel(unit["road_m"], road_total) < 1e-9
        assert _rel(unit["road_covered_m"], road_cov) < 0.01
        # per class: class A only
        _, cov_a = _independent_area(geom, _cams({"A"}))
        assert _rel(unit["by_class"]["A"]["covered_area_m2"], cov_a) < 0.01


def test_incidents_and_key_places_agree(world):
    out = summary(world["engine"], "city", settings=CoverageSettings(), area=ServiceAreaSettings())
    (city,) = out["units"]
    pts = _incident_points()
    seen = seen_by_rays(pts[:, 0], pts[:, 1], _cams(), BUILDINGS)
    assert city["incidents"] == len(pts)
    assert abs(city["incidents_covered"] - seen.sum()) <= max(1, 0.01 * len(pts))
    assert city["incident_share"] == pytest.approx(city["incidents_covered"] / len(pts))
    point_seen = seen_by_rays([PLACE_POINT[0]], [PLACE_POINT[1]], _cams(), BUILDINGS)[0]
    gx, gy, _ = _lattice(PLACE_POLY)
    poly_seen = seen_by_rays(gx, gy, _cams(), BUILDINGS).mean() >= 0.25
    assert city["key_places"] == 2
    assert city["key_places_covered"] == int(point_seen) + int(poly_seen)
    names = {p["name"] for p in city["key_places_list"]["covered"]}
    assert ("point school" in names) == point_seen and ("square" in names) == poly_seen
    assert 0 < city["cells_covered"] <= city["cells"]


def test_grid_level_and_class_breakdown_add_up(world):
    out = summary(world["engine"], "grid", settings=CoverageSettings(), area=ServiceAreaSettings())
    assert [u["code"] for u in out["units"]] == ["G0", "G1", "G2", "G3"]
    city = summary(world["engine"], "city", settings=CoverageSettings(),
                   area=ServiceAreaSettings())["units"][0]
    assert sum(u["public_area_m2"] for u in out["units"]) == pytest.approx(city["public_area_m2"])
    assert sum(u["incidents"] for u in out["units"]) == city["incidents"]
    for u in out["units"]:
        by = u["by_class"]
        assert max(by[k]["covered_area_m2"] for k in "ABC") <= u["covered_area_m2"] + 1e-6
        assert sum(by[k]["covered_area_m2"] for k in "ABC") >= u["covered_area_m2"] - 1e-6
    assert out["cameras"]["by_status"] == {"online": 6, "offline": 1, "fault": 0}
    assert out["cameras"]["online_by_class"] == {"A": 2, "B": 3, "C": 1}


def test_camera_set_offline_drops_out_of_the_figures(world):
    engine = world["engine"]
    before = summary(engine, "community", settings=CoverageSettings(), area=ServiceAreaSettings())
    dome = world["ids"][2]
    with engine.begin() as conn:
        conn.execute(text("UPDATE cameras SET status = 'offline' WHERE id = :i"), {"i": dome})
    refresh_cameras(engine, [dome], settings=CoverageSettings(), area=ServiceAreaSettings())
    after = {u["code"]: u for u in summary(engine, "community", settings=CoverageSettings(),
                                           area=ServiceAreaSettings())["units"]}
    b = {u["code"]: u for u in before["units"]}
    assert after["C2"]["covered_area_m2"] < b["C2"]["covered_area_m2"] - 1000
    b_after, b_before = after["C2"]["by_class"]["B"], b["C2"]["by_class"]["B"]
    assert b_after["covered_area_m2"] < b_before["covered_area_m2"]
    assert after["C1"]["by_class"]["A"] == b["C1"]["by_class"]["A"]
    _, covered = _independent_area(COMMUNITIES["C2"], _cams(offline={2}))
    assert _rel(after["C2"]["covered_area_m2"], covered) < 0.01


def test_blocked_camera_is_listed(world):
    engine = world["engine"]
    with engine.begin() as conn:
        cid = add_camera(conn, 10, 10, azimuth=45.0, fov=40.0, range_m=30.0, code=None,
                         name="walled")
        add_building(conn, shapely.box(10.3, 10.3, 16, 16))
    refresh_cameras(engine, [cid], settings=CoverageSettings(), area=ServiceAreaSettings())
    out = summary(engine, "city", settings=CoverageSettings(), area=ServiceAreaSettings())
    assert [b["name"] for b in out["blocked"]] == ["walled"]


def test_summary_is_cached_until_data_changes(world):
    engine, cache = world["engine"], ResultCache()
    first = summary(engine, "community", cache=cache, settings=CoverageSettings(),
                    area=ServiceAreaSettings())
    assert summary(engine, "community", cache=cache, settings=CoverageSettings(),
                   area=ServiceAreaSettings()) is first
    with engine.begin() as conn:
        conn.execute(text("UPDATE cameras SET azimuth = 10 WHERE id = :i"), {"i": world["ids"][0]})
    refresh_cameras(engine, [world["ids"][0]], settings=CoverageSettings(),
                    area=ServiceAreaSettings())
    assert summary(engine, "community", cache=cache, settings=CoverageSettings(),
                   area=ServiceAreaSettings()) is not first


def test_incident_window_counts_only_recent_incidents(world):
    engine = world["engine"]
    with engine.begin() as conn:
        add_incidents(conn, [(5, 5), (6, 6)], when="2025-01-01T00:00:00+08:00")
    out = summary(engine, "city", days=30, settings=CoverageSettings(), area=ServiceAreaSettings())
    assert out["units"][0]["incidents"] == len(_incident_points())
    assert out["window"]["days"] == 30
    wide = summary(engine, "city", days=3000, settings=CoverageSettings(),
                   area=ServiceAreaSettings())
    assert wide["units"][0]["incidents"] == len(_incident_points()) + 2


def test_bad_level_and_missing_units_are_clear_errors(world):
    with pytest.raises(InvalidInput, match="unknown level"):
        summary(world["engine"], "province", settings=CoverageSettings(),
                area=ServiceAreaSettings())
    with world["engine"].begin() as conn:
        conn.execute(text("DELETE FROM grids"))
    with pytest.raises(NotFound, match="grids"):
        summary(world["engine"], "grid", settings=CoverageSettings(), area=ServiceAreaSettings())

"""Gaps: uncovered public ground, cut, ranked by incidents, stored and served."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from test_coverage_support import (
    add_area,
    add_building,
    add_camera,
    add_incidents,
    seen_by_rays,
    to_local,
)

from geo.coverage.basis import read_basis
from geo.coverage.gaps import GapFinder
from geo.coverage.gapstore import gap_areas, gap_features, refresh_gaps
from geo.coverage.settings import CoverageSettings
from geo.coverage.views import refresh_all, refresh_cameras
from geo.errors import InvalidInput
from geo.settings import ServiceAreaSettings

COMMUNITY = shapely.box(0, 0, 600, 300)
PLAZA = shapely.box(430, 90, 530, 210)
BUILDINGS = [shapely.box(100, 20, 140, 50), shapely.box(210, 240, 250, 280),
             shapely.box(320, 20, 350, 55)]
CAMS = [dict(x=x, y=y, kind="dome", fov=360.0, range_m=70.0, height_m=6.0, tilt=20.0)
        for x in (60, 180, 300) for y in (70, 220)]


def _incidents():
    rng = np.random.default_rng(11)
    plaza = rng.uniform([435, 95], [525, 205], (40, 2))
    spread = rng.uniform([0, 0], [600, 300], (60, 2))
    pts = np.vstack([plaza, spread])
    inside = shapely.STRtree(BUILDINGS).query(shapely.points(pts), predicate="within")[0]
    return np.delete(pts, inside, axis=0)


@pytest.fixture()
def town(empty_db):
    with empty_db.begin() as conn:
        add_area(conn, "D", "district", COMMUNITY)
        add_area(conn, "C1", "community", COMMUNITY, parent="D")
        for b in BUILDINGS:
            add_building(conn, b)
        ids = [add_camera(conn, **c) for c in CAMS]
        add_incidents(conn, _incidents())
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    return {"engine": empty_db, "ids": ids}


def test_top_gap_is_the_busy_unwatched_plaza(town):
    fc = gap_features(town["engine"], limit=5, settings=CoverageSettings(),
                      area=ServiceAreaSettings())
    assert fc["type"] == "FeatureCollection" and fc["features"]
    top = fc["features"][0]
    geom = to_local(shapely.geometry.shape(top["geometry"]))
    assert geom.intersection(PLAZA).area > 0.5 * PLAZA.area / 2
    pts = _incidents()
    inside = shapely.contains_xy(geom, pts[:, 0], pts[:, 1]).sum()
    assert top["properties"]["incidents"] == inside >= 20
    p = top["properties"]
    assert p["rank"] == 1 and p["community_code"] == "C1"
    assert p["open_incidents"] == p["incidents"]  # nothing in the plaza is near a building
    assert p["priority"] == pytest.approx(p["open_incidents"] + p["area_m2"] / 10_000)
    prios = [f["properties"]["priority"] for f in fc["features"]]
    assert prios == sorted(prios, reverse=True)
    # the nearest camera is the dome closest to the gap
    cam_pts = np.array([(c["x"], c["y"]) for c in CAMS])
    d = shapely.distance(geom, shapely.points(cam_pts))
    nearest = {town["ids"][i] for i in np.flatnonzero(d <= d.min() + 1e-3)}
    assert p["nearest_camera_id"] in nearest
    assert p["nearest_camera_m"] == pytest.approx(d.min(), rel=1e-3)


def test_gaps_equal_the_unseen_public_ground(town):
    engine = town["engine"]
    with engine.connect() as conn:
        basis = read_basis(conn, area=ServiceAreaSettings())
        gaps = GapFinder(min_area=0.0).fit(basis, gap_areas(conn, basis)).gaps_
    step = 0.5
    gx, gy = np.meshgrid(np.arange(0, 600, step) + step / 2, np.arange(0, 300, step) + step / 2)
    gx, gy = gx.ravel(), gy.ravel()
    public = ~shapely.contains_xy(shapely.union_all(BUILDINGS), gx, gy)
    unseen = public & ~seen_by_rays(gx, gy, CAMS, BUILDINGS)
    expected = unseen.sum() * step * step
    assert abs(gaps["area_m2"].sum() - expected) / expected < 0.01
    # no gap overlaps a building or a view
    union = shapely.union_all(gaps["geometry"].to_numpy())
    assert union.intersection(shapely.union_all(BUILDINGS)).area < 1e-6


def test_gaps_table_follows_camera_edits(town):
    engine = town["engine"]
    first = gap_features(engine, limit=1, settings=CoverageSettings(),
                         area=ServiceAreaSettings())["features"][0]["properties"]
    with engine.connect() as conn:
        n_stored = conn.execute(text("SELECT count(*) FROM coverage_gaps")).scalar()
    assert n_stored >= 1
    # a camera in the middle of the plaza: the plaza is no longer the top gap
    with engine.begin() as conn:
        cid = add_camera(conn, 480, 150, kind="dome", fov=360.0, range_m=80.0, height_m=6.0,
                         tilt=20.0)
    refresh_cameras(engine, [cid], settings=CoverageSettings(), area=ServiceAreaSettings())
    after = gap_features(engine, limit=1, settings=CoverageSettings(),
                         area=ServiceAreaSettings())["features"][0]["properties"]
    assert after["incidents"] < first["incidents"]


def test_min_area_limit_and_bbox_filter(town):
    engine = town["engine"]
    refresh_gaps(engine, settings=CoverageSettings(), area=ServiceAreaSettings())
    all_gaps = gap_features(engine, min_area=0, limit=1000, settings=CoverageSettings(),
                            area=ServiceAreaSettings())["features"]
    big = gap_features(engine, min_area=5000, limit=1000, settings=CoverageSettings(),
                       area=ServiceAreaSettings())["features"]
    assert all(f["properties"]["area_m2"] >= 5000 for f in big)
    assert len(big) < len(all_gaps)
    assert len(gap_features(engine, limit=2, settings=CoverageSettings(),
                            area=ServiceAreaSettings())["features"]) == 2
    from test_coverage_support import to_lonlat

    x0, y0, x1, y1 = to_lonlat(shapely.box(0, 0, 100, 100)).bounds
    west = gap_features(engine, min_area=0, limit=1000, bbox=(x0, y0, x1, y1),
                        settings=CoverageSettings(), area=ServiceAreaSettings())["features"]
    assert 0 < len(west) < len(all_gaps)


def test_other_window_is_computed_on_the_fly(town):
    engine = town["engine"]
    with engine.begin() as conn:
        add_incidents(conn, [(480, 150)] * 1, when="2024-01-01T00:00:00+08:00")
    narrow = gap_features(engine, limit=1, settings=CoverageSettings(),
                          area=ServiceAreaSettings())["features"][0]["properties"]["incidents"]
    wide = gap_features(engine, limit=1, days=3000, settings=CoverageSettings(),
                        area=ServiceAreaSettings())["features"][0]["properties"]["incidents"]
    assert wide == narrow + 1


def test_bad_gap_parameters(town):
    with pytest.raises(InvalidInput):
        gap_features(town["engine"], min_area=-1, settings=CoverageSettings(),
                     area=ServiceAreaSettings())
    with pytest.raises(InvalidInput):
        gap_features(town["engine"], bbox=(10, 10, 5, 5), settings=CoverageSettings(),
                     area=ServiceAreaSettings())
    with pytest.raises(InvalidInput):
        gap_features(town["engine"], limit=0, settings=CoverageSettings(),
                     area=ServiceAreaSettings())


def test_no_camera_sees_anything(town):
    """Every camera offline: nothing covered, all public ground is a gap, siting still works."""
    from geo.coverage.placement import site_cameras
    from geo.coverage.summary import summary

    engine = town["engine"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE cameras SET status = 'offline'"))
    refresh_cameras(engine, town["ids"], settings=CoverageSettings(), area=ServiceAreaSettings())
    unit = summary(engine, "community", settings=CoverageSettings(),
                   area=ServiceAreaSettings())["units"][0]
    assert unit["covered_area_m2"] == 0 and unit["incidents_covered"] == 0
    with engine.connect() as conn:
        basis = read_basis(conn, area=ServiceAreaSettings())
        gaps = GapFinder(min_area=0.0).fit(basis, gap_areas(conn, basis)).gaps_
    public = COMMUNITY.area - sum(b.area for b in BUILDINGS)
    assert gaps["area_m2"].sum() == pytest.approx(public, rel=1e-6)
    assert gap_features(engine, limit=3, settings=CoverageSettings(),
                        area=ServiceAreaSettings())["features"]
    from test_coverage_support import to_lonlat

    here = to_lonlat(shapely.Point(480, 150))
    out = site_cameras(engine, 1, "incidents", candidates=[{"lon": here.x, "lat": here.y}],
                       settings=CoverageSettings(), area=ServiceAreaSettings())
    assert out["baseline"]["share"] == 0 and out["curve"][-1]["share"] > 0


def test_everything_seen_leaves_no_gaps(empty_db):
    from test_coverage_support import add_area

    with empty_db.begin() as conn:
        add_area(conn, "C1", "community", shapely.box(0, 0, 40, 40))
        add_camera(conn, 20, 20, kind="dome", fov=360.0, range_m=100.0)
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    assert gap_features(empty_db, min_area=0, settings=CoverageSettings(),
                        area=ServiceAreaSettings())["features"] == []

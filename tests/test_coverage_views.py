"""Camera views against hand-checkable geometry, stored in PostGIS."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from test_coverage_support import (
    add_building,
    add_camera,
    stored_view,
    visible_by_rays,
)

from geo.coverage import optics
from geo.coverage.settings import CoverageSettings
from geo.coverage.views import refresh_all, refresh_cameras, refresh_near
from geo.settings import ServiceAreaSettings


def test_open_90_degree_sector_is_a_quarter_disc(empty_db):
    with empty_db.begin() as conn:
        cid = add_camera(conn, 0, 0, azimuth=45.0, fov=90.0, range_m=40.0)
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        view, area = stored_view(conn, cid)
    expected = math.pi * 40.0**2 / 4
    assert abs(area - expected) / expected < 0.005
    assert abs(view.area - expected) / expected < 0.005
    # it faces north-east: a point 20 m to the north-east is seen, one to the south-west is not
    assert view.contains(shapely.Point(14, 14))
    assert not view.contains(shapely.Point(-14, -14))


def test_blind_strip_shrinks_the_sector_by_the_hand_formula(empty_db):
    h, tilt, fov, r = 6.0, 30.0, 90.0, 40.0
    v = 2 * math.degrees(math.atan(math.tan(math.radians(fov / 2)) * 9 / 16))
    blind = h / math.tan(math.radians(tilt + v / 2))
    assert blind == pytest.approx(float(optics.blind_radius(h, tilt, optics.vertical_fov(fov))),
                                  rel=1e-12)
    with empty_db.begin() as conn:
        flat = add_camera(conn, 0, 0, fov=fov, range_m=r)
        high = add_camera(conn, 500, 0, fov=fov, range_m=r, height_m=h, tilt=tilt)
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        _, a_flat = stored_view(conn, flat)
        view, a_high = stored_view(conn, high)
    expected = math.pi * (r**2 - blind**2) / 4
    assert abs(a_high - expected) / expected < 0.005
    shrink = a_flat - a_high
    assert abs(shrink - math.pi * blind**2 / 4) / (math.pi * blind**2 / 4) < 0.01
    assert not view.contains(shapely.Point(500, blind * 0.9))
    assert view.contains(shapely.Point(500, blind * 1.1))


def test_camera_facing_a_wall_sees_nothing_behind_it(empty_db):
    with empty_db.begin() as conn:
        cid = add_camera(conn, 0, 0, azimuth=0.0, fov=90.0, range_m=50.0)
        add_building(conn, shapely.box(-60, 10, 60, 12))
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        view, area = stored_view(conn, cid)
    assert area == pytest.approx(100.0, rel=1e-3)  # triangle 20 m wide, 10 m deep
    assert view.intersection(shapely.box(-60, 12, 60, 60)).area < 1e-6
    assert not view.contains(shapely.Point(0, 30))


def test_camera_walled_in_is_listed_as_blocked(empty_db):
    with empty_db.begin() as conn:
        cid = add_camera(conn, 0, 0, azimuth=0.0, fov=60.0, range_m=50.0)
        add_building(conn, shapely.box(-30, 0.05, 30, 5))  # right in front of the lens
    report = refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    assert report.blocked == 1
    with empty_db.connect() as conn:
        view, area = stored_view(conn, cid)
    assert view is None and area == 0.0


def test_dome_sees_an_annulus(empty_db):
    with empty_db.begin() as conn:
        cid = add_camera(conn, 0, 0, kind="dome", fov=90.0, azimuth=123.0, range_m=30.0,
                         height_m=5.0, tilt=20.0)
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    v = optics.vertical_fov(360.0)  # the 60° lens of a turning camera
    blind = 5.0 / math.tan(math.radians(20.0 + float(v) / 2))
    with empty_db.connect() as conn:
        _, area = stored_view(conn, cid)
    expected = math.pi * (30.0**2 - blind**2)
    assert abs(area - expected) / expected < 0.005


@pytest.mark.parametrize("azimuth", [0.0, 70.0, 200.0])
def test_occlusion_agrees_with_independent_ray_casting(empty_db, azimuth):
    """Shadows of convex, L-shaped and courtyard buildings versus sight lines."""
    buildings = [
        shapely.box(10, 5, 18, 12),
        shapely.Polygon([(-20, 8), (-8, 8), (-8, 12), (-16, 12), (-16, 24), (-20, 24)]),
        shapely.box(5, -25, 25, -10).difference(shapely.box(9, -21, 21, -14)),
        shapely.box(-25, -20, -18, -5),
        shapely.Polygon([(2, 30), (6, 26), (10, 34)]),
    ]
    cam = dict(azimuth=azimuth, fov=110.0, range_m=35.0, height_m=4.0, tilt=5.0)
    with empty_db.begin() as conn:
        cid = add_camera(conn, 0, 0, **cam)
        for b in buildings:
            add_building(conn, b)
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        _, area = stored_view(conn, cid)
    outer, inner = optics.effective_ranges(35.0, 4.0, 5.0, 110.0)
    truth = visible_by_rays((0, 0), azimuth, 110.0, float(outer), float(inner), buildings, 0.2)
    assert abs(area - truth) / truth < 0.01


def test_l_shaped_building_does_not_hide_its_own_notch(empty_db):
    ell = shapely.Polygon([(0, 10), (30, 10), (30, 40), (20, 40), (20, 20), (0, 20)])
    with empty_db.begin() as conn:
        cid = add_camera(conn, 10, 40, azimuth=135.0, fov=60.0, range_m=20.0)
        add_building(conn, ell)
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        view, _ = stored_view(conn, cid)
    assert view.contains(shapely.Point(17, 30))  # inside the notch, in plain sight
    assert not view.intersects(ell.buffer(-0.01))


def test_offline_camera_has_no_view_and_comes_back_online(empty_db):
    with empty_db.begin() as conn:
        on = add_camera(conn, 0, 0)
        off = add_camera(conn, 100, 0, status="offline")
        fault = add_camera(conn, 200, 0, status="fault")
    report = refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    assert (report.views, report.removed) == (1, 2)
    with empty_db.begin() as conn:
        assert stored_view(conn, off) == (None, None)
        assert stored_view(conn, fault) == (None, None)
        conn.execute(text("UPDATE cameras SET status = 'offline' WHERE id = :i"), {"i": on})
        conn.execute(text("UPDATE cameras SET status = 'online' WHERE id = :i"), {"i": off})
    refresh_cameras(empty_db, [on, off], settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        assert stored_view(conn, on) == (None, None)
        assert stored_view(conn, off)[1] > 0


def _computed_at(conn):
    rows = conn.execute(text("SELECT camera_id, computed_at, area_m2 FROM camera_views"))
    return {r[0]: (r[1], r[2]) for r in rows}


def test_incremental_refresh_touches_only_what_changed(empty_db):
    with empty_db.begin() as conn:
        a = add_camera(conn, 0, 0, range_m=40.0)
        b = add_camera(conn, 300, 0, range_m=40.0)
        c = add_camera(conn, 0, 300, range_m=40.0)
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        before = _computed_at(conn)
    # edit one camera: only its row changes
    with empty_db.begin() as conn:
        conn.execute(text("UPDATE cameras SET azimuth = 180 WHERE id = :i"), {"i": a})
    refresh_cameras(empty_db, [a], settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        after = _computed_at(conn)
    assert after[b] == before[b] and after[c] == before[c]
    assert after[a][0] > before[a][0]
    # a building in front of b: refresh_near recomputes b only, and b loses ground
    wall = shapely.box(280, 10, 320, 14)
    with empty_db.begin() as conn:
        add_building(conn, wall)
        report = refresh_near(empty_db, _lonlat(wall), conn=conn, settings=CoverageSettings(),
                              area=ServiceAreaSettings())
    assert report.views == 1
    with empty_db.connect() as conn:
        final = _computed_at(conn)
    assert final[a] == after[a] and final[c] == after[c]
    assert final[b][1] < before[b][1] - 500


def test_deleted_camera_loses_its_view(empty_db):
    with empty_db.begin() as conn:
        a = add_camera(conn, 0, 0)
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.begin() as conn:
        conn.execute(text("DELETE FROM cameras WHERE id = :i"), {"i": a})
    report = refresh_cameras(empty_db, [a], settings=CoverageSettings(), area=ServiceAreaSettings())
    assert report.removed == 1
    with empty_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM camera_views")).scalar() == 0


def test_parallel_refresh_equals_serial(empty_db):
    from geo.coverage.settings import CoverageSettings

    rng = np.random.default_rng(7)
    with empty_db.begin() as conn:
        for x, y in rng.uniform(0, 400, (60, 2)):
            add_camera(conn, x, y, azimuth=float(rng.uniform(0, 360)), range_m=30.0)
        for x, y in rng.uniform(0, 400, (40, 2)):
            add_building(conn, shapely.box(x, y, x + 8, y + 12))
    refresh_all(empty_db, CoverageSettings(_env_file=None, workers=1, batch=1000),
                area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        serial = dict(conn.execute(text("SELECT camera_id, area_m2 FROM camera_views")).all())
    refresh_all(empty_db, CoverageSettings(_env_file=None, workers=2, batch=10),
                area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        parallel = dict(conn.execute(text("SELECT camera_id, area_m2 FROM camera_views")).all())
    assert serial.keys() == parallel.keys()
    assert all(abs(serial[k] - parallel[k]) < 1e-6 for k in serial)


def _lonlat(geom):
    from test_coverage_support import to_lonlat

    return to_lonlat(geom)


def test_camera_inside_its_building_sees_around_it(empty_db):
    """A position snapped into the footprint: the mount hides nothing beyond itself."""
    house = shapely.box(-5, -5, 5, 5)
    with empty_db.begin() as conn:
        cid = add_camera(conn, 1, 1, kind="dome", fov=360.0, range_m=30.0)
        add_building(conn, house)
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        view, area = stored_view(conn, cid)
    # the disc (about the camera) minus the footprint
    disc = shapely.Point(1, 1).buffer(30, quad_segs=256)
    assert area == pytest.approx(disc.area - house.area, rel=2e-3)
    assert view.intersection(house).area < 1e-6


def test_refresh_with_no_cameras_is_a_no_op(empty_db):
    report = refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    assert (report.cameras, report.views) == (0, 0)
    assert refresh_near(empty_db, _lonlat(shapely.box(0, 0, 10, 10)), settings=CoverageSettings(),
                        area=ServiceAreaSettings()).views == 0


def test_after_load_hook_refreshes_what_a_load_touched(empty_db):
    from geo.coverage.hooks import after_load

    with empty_db.begin() as conn:
        a = add_camera(conn, 0, 0, range_m=30.0)
        b = add_camera(conn, 500, 0, range_m=30.0)
    assert after_load(empty_db, "roads", settings=CoverageSettings(),
                      area=ServiceAreaSettings()) is None
    assert after_load(empty_db, "cameras", settings=CoverageSettings(),
                      area=ServiceAreaSettings()).views == 2
    with empty_db.begin() as conn:
        add_building(conn, shapely.box(-20, 5, 20, 8))
    report = after_load(empty_db, "buildings", geometry=_lonlat(shapely.box(-20, 5, 20, 8)),
                        settings=CoverageSettings(), area=ServiceAreaSettings())
    assert report.views == 1
    assert after_load(empty_db, "cameras", camera_ids=[a, b], settings=CoverageSettings(),
                      area=ServiceAreaSettings()).views == 2


def test_detail_level_limits_the_range_by_pixels_per_metre(empty_db):
    from geo.coverage.settings import CoverageSettings

    # IEC 62676-4 "recognise" = 125 px/m; 1920 px over a 90° lens: 1920 / (2·125·tan 45°)
    assert float(optics.detail_range(1920, 90.0, optics.DETAIL_PPM["recognise"])) == \
        pytest.approx(7.68, rel=1e-12)
    with empty_db.begin() as conn:
        hd = add_camera(conn, 0, 0, fov=90.0, range_m=50.0, resolution_px=1920)
        plain = add_camera(conn, 300, 0, fov=90.0, range_m=50.0)
    refresh_all(empty_db, CoverageSettings(_env_file=None, detail="recognise", workers=1),
                area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        _, a_hd = stored_view(conn, hd)
        _, a_plain = stored_view(conn, plain)
    assert a_hd == pytest.approx(math.pi * 7.68**2 / 4, rel=0.005)
    assert a_plain == pytest.approx(math.pi * 50.0**2 / 4, rel=0.005)  # no pixels: range_m


def test_steep_tilt_limits_the_far_edge_to_the_horizon(empty_db):
    h, tilt = 6.0, 60.0
    v = float(optics.vertical_fov(90.0))
    far = h / math.tan(math.radians(tilt - v / 2))
    near = h / math.tan(math.radians(tilt + v / 2))
    with empty_db.begin() as conn:
        cid = add_camera(conn, 0, 0, fov=90.0, range_m=50.0, height_m=h, tilt=tilt)
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    with empty_db.connect() as conn:
        _, area = stored_view(conn, cid)
    assert 10 < far < 11
    assert area == pytest.approx(math.pi * (far**2 - near**2) / 4, rel=0.005)


def test_bad_detail_level_is_refused():
    from geo.errors import InvalidInput

    with pytest.raises(InvalidInput, match="detail level"):
        optics.effective_ranges([50.0], [4.0], [10.0], [90.0], [1920], detail="glimpse")

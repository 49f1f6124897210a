"""CRS conversion: GCJ-02 / BD-09 against published reference values, iterated inverses,
EPSG reprojection, and loading shifted camera files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from sqlalchemy import text

from geo.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geometries_to_wgs84,
    parse_crs,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import InvalidInput
from geo.io.load import load_file
from geo.io.settings import IngestSettings
from geo.settings import ServiceAreaSettings

LOAD = Path(__file__).resolve().parent / "fixtures" / "load"
GEOD = Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# Published values of the standard forward formulas (wandergis/coordtransform, also the
# test vectors of hutool's CoordinateUtil) for the point 116.404, 39.915.
def test_wgs84_to_gcj02_reference():
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert float(lon) == pytest.approx(116.41024449916938, abs=1e-12)
    assert float(lat) == pytest.approx(39.91640428150164, abs=1e-12)


def test_gcj02_to_bd09_reference():
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert float(lon) == pytest.approx(116.41036949371029, abs=1e-12)
    assert float(lat) == pytest.approx(39.92133699351021, abs=1e-12)


def test_wgs84_to_bd09_reference():
    lon, lat = wgs84_to_bd09(116.404, 39.915)
    assert float(lon) == pytest.approx(116.41662724378733, abs=1e-12)
    assert float(lat) == pytest.approx(39.922699552216216, abs=1e-12)


@pytest.fixture(scope="module")
def china_points():
    rng = np.random.default_rng(3)
    return rng.uniform(74, 134, 20_000), rng.uniform(19, 53, 20_000)


def test_gcj02_inverse_is_accurate_to_far_below_half_a_metre(china_points):
    lon, lat = china_points
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    err = metres(lon, lat, *back)
    assert err.max() < 1e-3  # the contract asks for < 0.5 m


def test_bd09_inverse_is_accurate_to_far_below_half_a_metre(china_points):
    lon, lat = china_points
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert metres(lon, lat, *back).max() < 1e-3
    g_back = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert metres(lon, lat, *g_back).max() < 1e-3


def test_the_iteration_beats_the_one_step_inverse():
    # The usual one-step inverse (w = g - (f(g) - g)) is off by up to a few metres.
    g = (np.array([116.404]), np.array([39.915]))
    one_step = (2 * g[0] - wgs84_to_gcj02(*g)[0], 2 * g[1] - wgs84_to_gcj02(*g)[1])
    iterated = gcj02_to_wgs84(*g)
    fwd_one = wgs84_to_gcj02(*one_step)
    fwd_it = wgs84_to_gcj02(*iterated)
    assert metres(*g, *fwd_it)[0] < 1e-4 < metres(*g, *fwd_one)[0]


def test_outside_china_is_unchanged():
    lon, lat = wgs84_to_gcj02(np.array([2.35, 139.69]), np.array([48.85, 35.69]))
    assert lon.tolist() == [2.35, 139.69] and lat.tolist() == [48.85, 35.69]
    back = gcj02_to_wgs84(np.array([2.35]), np.array([48.85]))
    assert back[0].tolist() == [2.35]


def test_geometries_keep_their_shape():
    poly = shapely.Polygon([(118.0, 36.8), (118.01, 36.8), (118.01, 36.81), (118.0, 36.8)])
    line = shapely.LineString([(118.0, 36.8), (118.02, 36.82)])
    out = geometries_to_wgs84(np.array([poly, line, None], dtype=object), "gcj02")
    assert out[0].geom_type == "Polygon" and len(out[0].exterior.coords) == 4
    assert out[1].geom_type == "LineString" and out[2] is None
    x, y = gcj02_to_wgs84(np.array([118.01]), np.array([36.81]))
    assert out[0].exterior.coords[2] == pytest.approx((x[0], y[0]), abs=1e-15)


@pytest.mark.parametrize(("value", "label"), [
    ("4326", "EPSG:4326"), ("EPSG:4490", "EPSG:4326"), ("cgcs2000", "EPSG:4326"),
    ("gcj02", "gcj02"), ("GCJ-02", "gcj02"), ("bd09", "bd09"), ("百度", "bd09"),
    ("EPSG:4548", "EPSG:4548"), ("3857", "EPSG:3857"),
])
def test_parse_crs(value, label):
    assert parse_crs(value).label() == label


def test_parse_crs_refuses_nonsense():
    with pytest.raises(InvalidInput, match="unknown CRS 'mars'"):
        parse_crs("mars")


@pytest.fixture()
def area_db(empty_db):
    load_file(empty_db, "admin_areas", LOAD / "admin_areas.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    return empty_db


def camera_offsets(engine) -> np.ndarray:
    """Distance (m) of each loaded camera from its WGS84 truth in cameras.csv."""
    truth = pd.read_csv(LOAD / "cameras.csv", dtype={"code": str}).set_index("code")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT code, ST_X(geom), ST_Y(geom) FROM cameras")).all()
    got = pd.DataFrame(rows, columns=["code", "x", "y"]).set_index("code").loc[truth.index]
    return metres(truth["lon"].to_numpy(), truth["lat"].to_numpy(), got["x"].to_numpy(),
                  got["y"].to_numpy())


def test_gcj02_camera_file_lands_on_the_truth(area_db):
    report = load_file(area_db, "cameras", LOAD / "cameras_gcj02.csv", crs="gcj02",
                       progress=False, area=ServiceAreaSettings(), settings=IngestSettings())
    assert report.inserted == 12
    assert camera_offsets(area_db).max() < 0.5
    assert camera_offsets(area_db).max() < 1e-3  # in fact sub-millimetre


def test_gcj02_camera_file_without_crs_lands_hundreds_of_metres_off(area_db):
    # Not flagged (still inside the district): the shift near Zibo is ~540-550 m, which is
    # what the README documents for unconverted 高德/腾讯 coordinates.
    load_file(area_db, "cameras", LOAD / "cameras_gcj02.csv", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    off = camera_offsets(area_db)
    assert 300 < off.min() and off.max() < 700
    assert off.mean() == pytest.approx(545, abs=15)


def test_bd09_file_lands_on_the_truth(area_db, tmp_path):
    table = pd.read_csv(LOAD / "cameras.csv", dtype=str)
    lon, lat = wgs84_to_bd09(table["lon"].astype(float), table["lat"].astype(float))
    table["lon"], table["lat"] = [repr(float(v)) for v in lon], [repr(float(v)) for v in lat]
    path = tmp_path / "bd09.csv"
    table.to_csv(path, index=False)
    load_file(area_db, "cameras", path, crs="bd09", progress=False, area=ServiceAreaSettings(),
              settings=IngestSettings())
    assert camera_offsets(area_db).max() < 1e-3


def test_projected_file_is_reprojected(area_db, tmp_path):
    truth = pd.read_csv(LOAD / "cameras.csv", dtype={"code": str})
    frame = gpd.GeoDataFrame(truth.drop(columns=["lon", "lat"]),
                             geometry=gpd.points_from_xy(truth["lon"], truth["lat"]), crs=4326)
    projected = frame.to_crs(4548)  # CGCS2000 / 3-degree Gauss-Kruger CM 117E
    path = tmp_path / "cams.gpkg"
    projected.to_file(path)
    # the GeoPackage declares its CRS
    load_file(area_db, "cameras", path, progress=False, area=ServiceAreaSettings(),
              settings=IngestSettings())
    assert camera_offsets(area_db).max() < 1e-4


def test_projector_round_trips_and_refuses_a_crs_it_was_not_given():
    """On zone 50's central meridian at the equator UTM gives x = 500 000 m, y = 0."""
    from geo.crs import Projector, utm_epsg

    proj = Projector.for_area(117.0, 0.0)
    assert proj.epsg == utm_epsg(117.0, 0.0) == 32650
    assert Projector.for_area(117.0, 0.0, 4547).epsg == 4547
    x, y = proj.xy_to_metric([117.0], [0.0])
    assert abs(x[0] - 500_000.0) < 1e-6 and abs(y[0]) < 1e-6
    metric = proj.to_metric(gpd.GeoSeries([shapely.Point(117.0, 0.0)], crs=4326))
    assert abs(metric[0].x - 500_000.0) < 1e-6
    back = proj.to_lonlat(shapely.box(499_000, 0, 501_000, 1_000))
    assert back.geom_type == "Polygon" and abs(back.centroid.x - 117.0) < 1e-6
    with pytest.raises(InvalidInput, match="CRS mismatch"):
        proj.to_metric(gpd.GeoSeries([shapely.Point(500_000, 0)], crs=32650))

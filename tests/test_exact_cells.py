"""Counts per H3 cell equal ``h3.latlng_to_cell`` at every offered resolution.

The reference is written apart from the product: incidents are read back as
lon/lat (``ST_X``/``ST_Y``), each point's cell is ``h3.latlng_to_cell`` and the
counts are a pandas ``value_counts``. The product's answers come through HTTP:
``/api/v1/hotspots`` (res 7, 9, 12), hotspot tiles and widget incident tiles
decoded with ``mapbox_vector_tile`` (res 7 and 9). Data: the small demo, and
real police.uk street-level crimes (West Yorkshire, July 2018) shipped in the
``crime-sim-toolkit`` wheel.
"""

from __future__ import annotations

import math
from importlib import resources

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from test_tiles_support import client_for, features, role_keys

from geo.db.engine import make_engine
from geo.h3cells import COLUMNS, RESOLUTIONS
from geo.io.load import load_frame
from geo.io.settings import IngestSettings
from geo.settings import ServiceAreaSettings
from tiles.cells import widget_res


def points(engine) -> pd.DataFrame:
    """Every incident's lon/lat and time as stored."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT ST_X(geom), ST_Y(geom), occurred_at FROM incidents")).all()
    return pd.DataFrame(rows, columns=["lon", "lat", "occurred_at"])


def widget_reference(pts: pd.DataFrame, res: int, k: int = 5, days: int = 7,
                     tz: str = "Asia/Shanghai") -> dict[str, int]:
    """What a widget's cell shows, by pandas: incidents per ``latlng_to_cell`` cell summed
    over the ISO weeks (local) in which that cell holds at least ``k``; cells under ``k``
    left out (README, widget role)."""
    cells = [h3.latlng_to_cell(y, x, res) for x, y in zip(pts.lon, pts.lat, strict=True)]
    local = pd.to_datetime(pts.occurred_at, utc=True).dt.tz_convert(tz).dt.tz_localize(None)
    block = (local.dt.normalize() - pd.Timestamp("1970-01-05")).dt.days // days
    n = pd.DataFrame({"cell": cells, "block": block}).value_counts()
    total = n[n >= k].groupby(level="cell").sum()
    return {c: int(v) for c, v in total.items() if v >= k}


def reference(pts: pd.DataFrame, res: int) -> dict[str, int]:
    """Incidents per ``h3.latlng_to_cell`` cell, by pandas."""
    cells = [h3.latlng_to_cell(y, x, res) for x, y in zip(pts.lon, pts.lat, strict=True)]
    return {k: int(v) for k, v in pd.Series(cells).value_counts().items()}


def hotspot_counts(client, headers, res: int, bbox: tuple | None = None) -> dict[str, int]:
    params = {"res": res}
    if bbox is not None:
        params["bbox"] = ",".join(map(str, bbox))
    r = client.get("/api/v1/hotspots", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return {f["properties"]["h3"]: f["properties"]["count"] for f in r.json()["features"]
            if f["properties"]["count"] > 0}


def centre_in(cell: str, bbox: tuple) -> bool:
    lat, lon = h3.cell_to_latlng(cell)
    return bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def tiles_over(bbox: tuple, z: int) -> list[tuple[int, int]]:
    """Tiles covering ``bbox`` at zoom ``z``."""
    (x0, y0), (x1, y1) = tile_xy(bbox[0], bbox[3], z), tile_xy(bbox[2], bbox[1], z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def check_tiles(client, layer: str, z: int, bbox: tuple, headers, want: dict[str, int]) -> int:
    """Every cell drawn in the tiles over ``bbox`` has its reference count, and every
    reference cell whose centre lies in ``bbox`` is drawn (a cell in several tiles
    agrees with itself). Returns the cells compared."""
    got: dict[str, int] = {}
    for x, y in tiles_over(bbox, z):
        r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", headers=headers)
        assert r.status_code in (200, 204), r.text
        for f in features(r.content, layer):
            key, n = f["properties"]["h3"], f["properties"]["count"]
            assert got.setdefault(key, n) == n, key
    drawn = {k: v for k, v in got.items() if v > 0}
    assert drawn == {k: want[k] for k in drawn if k in want}, f"{layer} z{z}"
    assert {k for k in want if centre_in(k, bbox)} <= set(drawn), f"{layer} z{z}"
    return len(drawn)


def check_api(engine, db_settings, bbox12: tuple, tile_bbox: tuple) -> dict[str, int]:
    """Every count in the answers equals the reference; returns cells compared per answer."""
    pts = points(engine)
    compared = {}
    with role_keys(engine, "viewer", "widget") as hdr, client_for(db_settings) as client:
        for res in (7, 9):
            want = reference(pts, res)
            assert hotspot_counts(client, hdr["viewer"], res) == want, f"hotspots res {res}"
            compared[f"hotspots res {res}"] = len(want)
        want12 = {k: v for k, v in reference(pts, 12).items() if centre_in(k, bbox12)}
        assert want12 and hotspot_counts(client, hdr["viewer"], 12, bbox12) == want12
        compared["hotspots res 12"] = len(want12)
        for z in (11, 13):  # hotspot tiles draw res 7 and res 9 cells
            res = max(6, min(9, z - 4))
            compared[f"hotspot tiles z{z}"] = check_tiles(
                client, "hotspots", z, tile_bbox, hdr["viewer"], reference(pts, res))
        z = 13  # widget incident aggregates: (cell, week) counts of at least 5 incidents
        want = widget_reference(pts, widget_res(z))
        compared[f"widget tiles z{z}"] = check_tiles(client, "incidents", z, tile_bbox,
                                                      hdr["widget"], want)
    return compared


def reference_density(pts: pd.DataFrame, src_res: int, epsg: int, h: float,
                      at: np.ndarray) -> np.ndarray:
    """Quartic kernel density (per km²) at lon/lat ``at`` of the incidents snapped to
    the centres of their ``latlng_to_cell`` cells at ``src_res``, by brute force."""
    from pyproj import Transformer

    counts = reference(pts, src_res)
    centres = np.array([h3.cell_to_latlng(c)[::-1] for c in counts])
    w = np.array(list(counts.values()), dtype=float)
    fwd = Transformer.from_crs(4326, epsg, always_xy=True)
    sx, sy = fwd.transform(centres[:, 0], centres[:, 1])
    tx, ty = fwd.transform(at[:, 0], at[:, 1])
    d2 = (tx[:, None] - sx[None, :]) ** 2 + (ty[:, None] - sy[None, :]) ** 2
    k = np.where(d2 < h * h, 3 / (np.pi * h * h) * (1 - d2 / (h * h)) ** 2, 0.0)
    return k @ w * 1e6


def test_heatmap_snaps_incidents_to_their_own_cells(small_demo_copy):
    engine = make_engine(small_demo_copy)
    try:
        pts = points(engine)
        with role_keys(engine, "viewer") as hdr, client_for(small_demo_copy) as client:
            r = client.get("/api/v1/heatmap", params={"res": 9, "bandwidth_m": 400},
                           headers=hdr["viewer"])
    finally:
        engine.dispose()
    assert r.status_code == 200, r.text
    body = r.json()
    got = np.array(body["points"])  # lat, lon, density
    epsg = body["parameters"]["metric_epsg"]
    # The answer's points are cell centres rounded to 1e-6°; use the exact centres.
    at = np.array([h3.cell_to_latlng(h3.latlng_to_cell(lat, lon, 9))[::-1]
                   for lat, lon in got[:, :2].tolist()])
    want = reference_density(pts, 10, epsg, 400.0, at)
    assert got[:, 2] == pytest.approx(want, abs=1e-3, rel=1e-6)
    # A parent-of-res-12 snapping gives densities this test tells apart.
    parents = pts.assign(cell=[h3.cell_to_parent(h3.latlng_to_cell(y, x, 12), 10)
                               for x, y in zip(pts.lon, pts.lat, strict=True)])
    moved = parents.cell != [h3.latlng_to_cell(y, x, 10)
                             for x, y in zip(pts.lon, pts.lat, strict=True)]
    assert moved.sum() > 0


def test_stored_cells_are_latlng_to_cell_at_every_resolution(small_demo):
    engine = make_engine(small_demo)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                f"SELECT ST_X(geom), ST_Y(geom), {', '.join(COLUMNS)} FROM incidents")).all()
    finally:
        engine.dispose()
    assert len(rows) > 1000
    differ_from_parent = 0
    for x, y, *cells in rows:
        want = [h3.str_to_int(h3.latlng_to_cell(y, x, r)) for r in RESOLUTIONS]
        assert cells == want
        differ_from_parent += h3.cell_to_parent(h3.int_to_str(cells[-1]), 9) != \
            h3.int_to_str(cells[RESOLUTIONS.index(9)])
    assert differ_from_parent > 0  # the data would tell a parent-based count apart


def test_demo_counts_per_cell_equal_latlng_to_cell(small_demo_copy):
    engine = make_engine(small_demo_copy)
    try:
        pts = points(engine)
        cx, cy = pts.lon.median(), pts.lat.median()
        box = (cx - 0.01, cy - 0.008, cx + 0.01, cy + 0.008)
        extent = (pts.lon.min(), pts.lat.min(), pts.lon.max(), pts.lat.max())
        compared = check_api(engine, small_demo_copy, box, extent)
    finally:
        engine.dispose()
    assert all(n > 0 for n in compared.values())


# West Yorkshire and around (a few crimes lie outside the county): a fresh database's area.
WEST_YORKSHIRE = (-3.0, 53.0, 0.0, 55.0)


def police_uk_crimes() -> gpd.GeoDataFrame:
    """One month of real street-level crimes as published by police.uk, as incidents."""
    data = resources.files("crime_sim_toolkit") / "tests" / "testing_data" / "test_policedata"
    with resources.as_file(data / "2018-07" / "2018-07-west-yorkshire-street.csv") as path:
        raw = pd.read_csv(path)
    raw = raw.dropna(subset=["Longitude", "Latitude"]).reset_index(drop=True)
    frame = pd.DataFrame({
        "external_id": [f"wy-2018-07-{i}" for i in range(len(raw))],
        "source": "other", "category": "other", "subcategory": raw["Crime type"],
        "occurred_at": raw["Month"] + "-01T00:00:00+01:00",
    })
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(raw.Longitude, raw.Latitude),
                            crs=4326)


def test_police_uk_counts_per_cell_equal_latlng_to_cell(empty_db, db_settings):
    crimes = police_uk_crimes()
    report = load_frame(empty_db, "incidents", crimes, progress=False,
                        area=ServiceAreaSettings(service_bbox=WEST_YORKSHIRE),
                        settings=IngestSettings())
    assert report.rejected == 0 and report.inserted == len(crimes) > 25_000
    leeds = (-1.56, 53.79, -1.53, 53.81)
    compared = check_api(empty_db, db_settings, leeds, leeds)
    assert compared["hotspots res 7"] > 50 and compared["hotspots res 9"] > 1000
    assert compared["hotspots res 12"] > 100 and compared["widget tiles z13"] > 10
    pts = points(empty_db)
    moved = sum(h3.cell_to_parent(h3.latlng_to_cell(y, x, 12), 9) != h3.latlng_to_cell(y, x, 9)
                for x, y in zip(pts.lon, pts.lat, strict=True))
    assert moved > 0
    assert np.isclose(len(pts), len(crimes))


def test_migration_backfills_existing_incidents(pg_server):
    """Rows written before revision 0009 get their exact cells; the downgrade removes them."""
    import psycopg
    from alembic import command
    from conftest import drop_database

    from geo.db.migrate import alembic_config
    from geo.db.urls import libpq_url, sqlalchemy_url, url_string
    from geo.settings import DatabaseSettings

    name = "onemap_test_exact_cells_migration"
    with psycopg.connect(libpq_url(pg_server, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(libpq_url(pg_server, name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    settings = DatabaseSettings(database_url=url_string(sqlalchemy_url(pg_server, name)))
    cfg = alembic_config(settings)
    engine = make_engine(settings)
    try:
        command.upgrade(cfg, "0008")
        rng = np.random.default_rng(9)
        lon, lat = rng.uniform(118.0, 118.1, 3000), rng.uniform(36.76, 36.84, 3000)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO incidents (external_id, source, category, occurred_at, h3, geom) "
                "SELECT 'm' || i, 'grid', 'other', now(), 0, ST_SetSRID(ST_Point(x, y), 4326) "
                "FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) "
                "WITH ORDINALITY AS t(x, y, i)"), {"x": lon.tolist(), "y": lat.tolist()})
        command.upgrade(cfg, "0009")
        with engine.connect() as conn:
            rows = conn.execute(text(
                f"SELECT ST_X(geom), ST_Y(geom), {', '.join(COLUMNS)} FROM incidents")).all()
            nullable = conn.execute(text(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = "
                "'incidents' AND column_name LIKE 'h3\\_%' AND is_nullable = 'YES'")).scalar()
        assert len(rows) == 3000 and nullable == 0
        for x, y, *cells in rows:
            assert cells == [h3.str_to_int(h3.latlng_to_cell(y, x, r)) for r in RESOLUTIONS]
        command.downgrade(cfg, "0008")
        with engine.connect() as conn:
            left = conn.execute(text(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = "
                "'incidents' AND column_name LIKE 'h3\\_%'")).scalar()
        assert left == 0
    finally:
        engine.dispose()
        drop_database(pg_server, name)

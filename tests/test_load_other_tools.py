"""Files and bodies as other tools write them: pandas' nanosecond times on every load path,
Arrow timestamp units, GeoJSON features without properties; unexpected failures in one line."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from test_load_files import LOAD

from api.app import create_app
from api.cli import main
from api.settings import ApiSettings
from api.state import AppState
from geo.io.load import load_file
from geo.io.settings import IngestSettings
from geo.settings import ServiceAreaSettings

NS_TIME = "2026-02-19T07:01:03.631217872+08:00"


def pandas_csv(path, n: int, tz: str | None = "+08:00") -> pd.DataFrame:
    """``n`` incidents written by ``DataFrame.to_csv`` with nanosecond times."""
    rng = np.random.default_rng(n)
    t = pd.Timestamp(NS_TIME) - pd.to_timedelta(rng.integers(0, 10**15, n), unit="ns")
    if tz is None:
        t = t.tz_localize(None)
    df = pd.DataFrame({"external_id": [f"P{i}" for i in range(n)], "source": "12345",
                       "category": "dispute", "occurred_at": t,
                       "lon": rng.uniform(118.001, 118.099, n),
                       "lat": rng.uniform(36.761, 36.839, n)})
    df.to_csv(path, index=False)
    return df


def stored_us(engine) -> dict[str, int]:
    """external_id → occurred_at in µs since the epoch, as stored."""
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT external_id, (extract(epoch FROM occurred_at) * 1e6)::bigint "
            "FROM incidents")).all())


@pytest.fixture()
def area_db(empty_db, db_env):
    load_file(empty_db, "admin_areas", LOAD / "admin_areas.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    return empty_db


def run_cli(args, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["onemap", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("n", "bulk"), [(2_000, False), (12_000, False), (12_000, True)],
                         ids=["small", "progress", "bulk"])
def test_pandas_nanosecond_csv_loads_through_the_cli(area_db, tmp_path, capsys, monkeypatch,
                                                     n, bulk):
    if bulk:
        monkeypatch.setenv("ONEMAP_INGEST_BULK_MIN_ROWS", "1000")
    df = pandas_csv(tmp_path / "ns.csv", n)
    code, out, err = run_cli(["load", "incidents", str(tmp_path / "ns.csv")], capsys, monkeypatch)
    assert code == 0, err
    assert f"inserted {n}" in out
    got = stored_us(area_db)
    want = df.occurred_at.dt.tz_convert("UTC").dt.round("us")
    for eid, t in zip(df.external_id[:50], want[:50], strict=True):
        assert got[eid] == t.value // 1000


def test_naive_nanosecond_times_are_local(area_db, tmp_path):
    df = pandas_csv(tmp_path / "naive.csv", 300, tz=None)
    report = load_file(area_db, "incidents", tmp_path / "naive.csv", progress=False,
                       area=ServiceAreaSettings(), settings=IngestSettings())
    assert report.inserted == 300
    got = stored_us(area_db)
    want = df.occurred_at.dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC").dt.round("us")
    assert all(got[e] == t.value // 1000 for e, t in zip(df.external_id, want, strict=True))


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", ["Asia/Shanghai", None])
def test_geoparquet_timestamps_of_every_unit(area_db, tmp_path, unit, tz):
    import geopandas as gpd

    t = pd.Series(pd.to_datetime(["2025-03-04 05:06:07.123456789"] * 3)).astype(
        f"datetime64[{unit}]")
    if tz:
        t = t.dt.tz_localize(tz)
    frame = gpd.GeoDataFrame(
        {"external_id": ["a", "b", "c"], "source": "110", "category": "hazard",
         "occurred_at": t},
        geometry=gpd.points_from_xy([118.01, 118.02, 118.03], [36.8, 36.8, 36.8]), crs=4326)
    frame.to_parquet(tmp_path / "t.parquet")
    report = load_file(area_db, "incidents", tmp_path / "t.parquet", progress=False,
                       area=ServiceAreaSettings(), settings=IngestSettings())
    assert report.inserted == 3
    local = t if tz else t.dt.tz_localize("Asia/Shanghai")
    want = local.dt.tz_convert("UTC").dt.round("us").astype("datetime64[us, UTC]")
    assert stored_us(area_db)["a"] == want.iloc[0].value // 1000


def test_an_unexpected_failure_is_one_line(area_db, tmp_path, capsys, monkeypatch):
    import geo.io.load

    def boom(*args, **kwargs):
        raise TypeError("Invalid value for dtype\nwith a second line")

    monkeypatch.setattr(geo.io.load, "load_file", boom)
    code, out, err = run_cli(["load", "incidents", str(LOAD / "incidents.csv")], capsys,
                             monkeypatch)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("onemap: error: unexpected TypeError: Invalid value for dtype")
    assert "Traceback" not in err


@pytest.fixture()
def client(area_db, db_settings):
    state = AppState.build(api=ApiSettings(_env_file=None), db=db_settings)
    with TestClient(create_app(state)) as c:
        yield c


def post(client, body, ctype="application/geo+json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/api/v1/incidents", content=data, headers={"Content-Type": ctype})


def point(**props) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [118.05, 36.8]},
            "properties": props}


@pytest.mark.parametrize("body", [
    point(),
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [118.05, 36.8]},
     "properties": None},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [118.05, 36.8]}},
    point(colour="red", weight=3),
    {"type": "FeatureCollection", "features": [point(), point(note="x")]},
], ids=["empty-properties", "null-properties", "no-properties", "unknown-keys", "collection"])
def test_features_without_usable_properties_are_422(client, body):
    r = post(client, body)
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"detail", "code"} and r.json()["code"] == "invalid_rows"
    assert "missing required field" in r.json()["detail"]


def test_ndjson_with_blank_lines_and_nanosecond_times(client, area_db):
    ok = point(external_id="N1", source="110", category="hazard", occurred_at=NS_TIME)
    ok2 = point(external_id="N2", source="110", category="hazard", occurred_at=NS_TIME)
    body = b"\n" + json.dumps(ok).encode() + b"\n\n   \n" + json.dumps(ok2).encode() + b"\n\n"
    r = post(client, body, "application/x-ndjson")
    assert r.status_code == 200, r.text
    want = pd.Timestamp(NS_TIME).tz_convert("UTC").round("us").value // 1000
    assert stored_us(area_db) == {"N1": want, "N2": want}


def test_empty_ndjson_is_400(client):
    r = post(client, b"\n \n", "application/x-ndjson")
    assert r.status_code == 400 and set(r.json()) == {"detail", "code"}


def test_csv_as_excel_saves_it(area_db, tmp_path):
    """Excel's "CSV UTF-8": a BOM, CRLF, its own column order, numbers stored as text
    with spaces, values with trailing spaces."""
    lines = ["lat,occurred_at,category,lon,source,external_id",
             " 36.8 ,2024-05-01T08:30:00.123456789+08:00,dispute ,118.05 , 12345,X1",
             "36.81,2024-05-01 08:31:00,hazard,  118.06,110 ,X2"]
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    report = load_file(area_db, "incidents", path, progress=False, area=ServiceAreaSettings(),
                       settings=IngestSettings())
    assert (report.inserted, report.rejected) == (2, 0), report.messages
    with area_db.connect() as conn:
        rows = conn.execute(text("SELECT external_id, source, category, ST_X(geom), h3_9 "
                                 "FROM incidents ORDER BY 1")).all()
    import h3

    assert [r[:4] for r in rows] == [("X1", "12345", "dispute", 118.05),
                                     ("X2", "110", "hazard", 118.06)]
    assert rows[0][4] == h3.str_to_int(h3.latlng_to_cell(36.8, 118.05, 9))


@pytest.mark.parametrize(("suffix", "driver"), [(".gpkg", "GPKG"), (".geojson", "GeoJSON")])
def test_gdal_written_3d_points_with_fids(area_db, tmp_path, suffix, driver):
    """As QGIS/GDAL write them: a FID column, PointZ, 15-digit coordinates, ms times."""
    import geopandas as gpd
    import h3
    import shapely

    lon = np.array([118.012345678901234, 118.056789012345678, 118.090000000000001])
    lat = np.array([36.771234567890123, 36.801234567890123, 36.831234567890123])
    frame = gpd.GeoDataFrame(
        {"fid": [10, 11, 12], "external_id": ["G1", "G2", "G3"], "source": "grid",
         "category": "livelihood",
         "occurred_at": pd.to_datetime(["2024-03-01T10:00:00.123+08:00"] * 3, utc=True)},
        geometry=shapely.points(lon, lat, np.array([12.5, 13.0, 0.0])), crs=4326)
    path = tmp_path / f"qgis{suffix}"
    frame.to_file(path, driver=driver, engine="pyogrio")
    report = load_file(area_db, "incidents", path, progress=False, area=ServiceAreaSettings(),
                       settings=IngestSettings())
    assert (report.inserted, report.rejected) == (3, 0), report.messages
    with area_db.connect() as conn:
        rows = conn.execute(text("SELECT ST_X(geom), ST_Y(geom), ST_NDims(geom), h3_7, h3_12 "
                                 "FROM incidents ORDER BY external_id")).all()
    for x, y, dims, c7, c12 in rows:
        assert dims == 2
        assert c7 == h3.str_to_int(h3.latlng_to_cell(y, x, 7))
        assert c12 == h3.str_to_int(h3.latlng_to_cell(y, x, 12))

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
    load_file(empty_db, "admin_areas", LOAD / "admin_areas.geojson", progress=False)
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
        monkeypatch.setenv("ONEMAP_BULK_MIN_ROWS", "1000")
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
    report = load_file(area_db, "incidents", tmp_path / "naive.csv", progress=False)
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
    report = load_file(area_db, "incidents", tmp_path / "t.parquet", progress=False)
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

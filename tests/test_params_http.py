"""Shared query parameters over HTTP: one rule per parameter kind on every route.

* The same question (bbox, naive local window, category) gets the same count from the
  map summary, OGC items, the hotspot cells and the incident tiles, and each equals an
  independent SQL count whose window is written with an explicit offset.
* A naive time means local time (``ONEMAP_LOCAL_TIMEZONE``) everywhere; changing the
  setting moves every route's window together.
* Extreme and hostile values (NUL bytes, years 1 and 9999, centuries-long durations,
  ids beyond bigint, negative seeds) are refused with a 4xx ``{"detail", "code"}``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import mapbox_vector_tile
import pytest
from _seed import seed_sql
from conftest import DATA_TABLES
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState

BBOX = (118.0, 36.75, 118.01, 36.76)
# Naive, so local: the hourly seed incidents end on 2025-01-11 18:00+08, inside this
# window by 19 incidents in Asia/Shanghai but by 11 in UTC.
T0, T1 = "2025-01-11T00:00", "2025-01-12T00:00"


@pytest.fixture(scope="module")
def seeded(engine):
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
        conn.execute(text(seed_sql()))
        conn.execute(text("DELETE FROM api_keys"))
    return engine


def _client(db_settings, monkeypatch, tz: str) -> TestClient:
    monkeypatch.setenv("ONEMAP_LOCAL_TIMEZONE", tz)
    monkeypatch.setenv("ONEMAP_HOTSPOT_MIN_INCIDENTS", "1")
    monkeypatch.setenv("ONEMAP_HOTSPOT_WARM_UP", "false")
    monkeypatch.setenv("ONEMAP_TILE_CACHE_MB", "0")
    return TestClient(create_app(AppState.build(api=ApiSettings(_env_file=None),
                                                db=db_settings)))


def _truth(engine, tz: str, category: str | None = None) -> int:
    """Count with the window's offset written out (independent of the parsers)."""
    zone = ZoneInfo(tz)
    t0 = datetime.fromisoformat(T0).replace(tzinfo=zone).isoformat()
    t1 = datetime.fromisoformat(T1).replace(tzinfo=zone).isoformat()
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM incidents WHERE occurred_at >= CAST(:t0 AS timestamptz) "
            "AND occurred_at < CAST(:t1 AS timestamptz) "
            "AND (CAST(:c AS text) IS NULL OR category = :c) "
            "AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"),
            dict(t0=t0, t1=t1, c=category, x0=BBOX[0], y0=BBOX[1], x1=BBOX[2], y1=BBOX[3]),
        ).scalar_one()


def _tiles(bbox, z: int):
    """XYZ tiles covering a lon/lat box (Web Mercator)."""
    def xy(lon, lat):
        n = 2**z
        y = math.asinh(math.tan(math.radians(lat)))
        return int((lon + 180) / 360 * n), int((1 - y / math.pi) / 2 * n)
    (x0, y1), (x1, y0) = xy(bbox[0], bbox[1]), xy(bbox[2], bbox[3])
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def _every_route(client: TestClient, category: str | None) -> dict[str, int]:
    bbox = ",".join(map(str, BBOX))
    q = {"bbox": bbox, "from": T0, "to": T1, **({"category": category} if category else {})}
    out = {}
    r = client.get("/map/summary", params=q)
    assert r.status_code == 200, r.text
    out["map/summary"] = r.json()["incidents"]

    # OGC intervals are closed: the last second before `to` closes the same window.
    end = (datetime.fromisoformat(T1) - timedelta(seconds=1)).isoformat()
    ogc = {"bbox": bbox, "datetime": f"{T0}/{end}", "limit": 1000,
           **({"category": category} if category else {})}
    r = client.get("/ogc/collections/incidents/items", params=ogc)
    assert r.status_code == 200, r.text
    out["ogc items"] = len(r.json()["features"])

    r = client.get("/api/v1/hotspots", params={**q, "res": 9})
    assert r.status_code == 200, r.text
    out["hotspots"] = sum(f["properties"]["count"] for f in r.json()["features"])

    total = 0
    for z, x, y in _tiles(BBOX, 16):
        r = client.get(f"/tiles/incidents/{z}/{x}/{y}.pbf",
                       params={k: v for k, v in q.items() if k != "bbox"})
        assert r.status_code in (200, 204), r.text
        if r.status_code == 200 and r.content:
            layer = mapbox_vector_tile.decode(r.content).get("incidents", {"features": []})
            total += len(layer["features"])
    out["tiles"] = total
    return out


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "UTC"])
@pytest.mark.parametrize("category", [None, "hazard"])
def test_a_naive_window_means_local_time_on_every_route(seeded, db_settings, monkeypatch,
                                                        tz, category):
    want = _truth(seeded, tz, category)
    assert want > 0
    with _client(db_settings, monkeypatch, tz) as client:
        got = _every_route(client, category)
    assert got == {name: want for name in got}


def test_the_local_zone_moves_the_window(seeded):
    """The two zones above really ask different questions (8 hours apart)."""
    assert _truth(seeded, "Asia/Shanghai") != _truth(seeded, "UTC")


@pytest.fixture(scope="module")
def client(seeded, db_settings):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        yield c


HOSTILE = [
    ("GET", "/ogc/collections/cameras/items?name=%00", None),
    ("GET", "/ogc/collections/incidents/items?external_id=a%00b", None),
    ("GET", "/ogc/collections/incidents/items?datetime=%00", None),
    ("GET", "/api/v1/grid-plans/1/grids?community=%00", None),
    ("GET", "/api/v1/grid-plans/1/buildings?grid=%00", None),
    ("GET", "/api/v1/grid-plans/1/evaluate?community=%00", None),
    ("GET", "/api/v1/hotspots?category=%00", None),
    ("GET", "/map/summary?bbox=1,2,3,4&from=2025-01-01%00&to=2025-02-01", None),
    ("POST", "/api/v1/grid-plans", {"name": "a\x00b"}),
    ("POST", "/api/v1/grid-plans", {"name": "ok", "note": "\x00"}),
    ("POST", "/api/v1/grid-plans", {"name": "ok", "from_plan": 99999999999999999999}),
    ("GET", "/api/v1/grid-plans/99999999999999999999", None),
    ("GET", "/tiles/incidents/14/13558/6378.pbf?from=0001-01-01&to=9999-12-31", None),
    ("GET", "/tiles/incidents/14/13558/6378.pbf?from=-P99999999D", None),
    ("GET", "/tiles/incidents/14/13558/6378.pbf?to=-PT99999999999H", None),
    ("GET", "/tiles/grids/14/13558/6378.pbf?plan=99999999999999999999", None),
    ("GET", "/api/v1/hotspots?from=0001-01-01&to=9999-12-31", None),
    ("GET", "/ogc/collections/incidents/items?datetime=0001-01-01T00:00:00/..", None),
    ("GET", "/ogc/collections/buildings/items?households=99999999999", None),
    ("GET", "/api/v1/coverage/summary?until=0001-01-01T00:00:00", None),
]


@pytest.mark.parametrize("method, path, body", HOSTILE, ids=[f"{m} {p}" for m, p, _ in HOSTILE])
def test_hostile_values_get_a_4xx(client, method, path, body):
    r = client.request(method, path, json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert set(r.json()) == {"detail", "code"}, r.text


def test_nul_in_a_query_never_reaches_the_database(client):
    r = client.get("/ogc/collections/cameras/items?name=%00")
    assert r.status_code == 400 and "NUL" in r.json()["detail"], r.text


@pytest.mark.parametrize("body", [{"seed": -1}, {"seed": 2**64}, {"communities": ["\x00"]}])
def test_redistricting_a_draft_refuses_bad_seeds_and_names(client, body):
    r = client.post("/api/v1/grid-plans", json={"name": "fuzz draft", "from_plan": 1})
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/grid-plans/{r.json()['id']}/redistrict", json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert set(r.json()) == {"detail", "code"}, r.text

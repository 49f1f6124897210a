"""POST /api/v1/incidents: GeoJSON Feature, FeatureCollection, NDJSON; idempotent,
all-or-nothing, 422 naming the first bad feature."""

from __future__ import annotations

import json
from pathlib import Path

import h3
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo import keys
from geo.crs import wgs84_to_gcj02
from geo.io.load import load_file
from geo.io.settings import IngestSettings
from geo.settings import ServiceAreaSettings

LOAD = Path(__file__).resolve().parent / "fixtures" / "load"


def feature(i: int, lon: float = 118.03, lat: float = 36.79, **props) -> dict:
    base = {"external_id": f"API{i}", "source": "12345", "category": "dispute",
            "occurred_at": "2024-06-01T09:30:00+08:00"}
    base.update(props)
    return {"type": "Feature", "properties": base,
            "geometry": {"type": "Point", "coordinates": [lon + i * 1e-4, lat]}}


def collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


@pytest.fixture()
def client(empty_db, db_settings):
    load_file(empty_db, "admin_areas", LOAD / "admin_areas.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    load_file(empty_db, "grids", LOAD / "grids.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    state = AppState.build(api=ApiSettings(_env_file=None), db=db_settings)
    with TestClient(create_app(state)) as c:
        yield c


def n_incidents(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM incidents")).scalar_one()


def post(client, body, ctype="application/geo+json", **params):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
    return client.post("/api/v1/incidents", content=data, headers={"Content-Type": ctype},
                       params=params)


def test_feature_collection_is_inserted_with_h3_and_grid(client, engine):
    r = post(client, collection(feature(1), feature(2), feature(3)))
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 3, "inserted": 3, "already_present": 0, "updated": 0}
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT ST_X(i.geom), ST_Y(i.geom), i.h3, g.code FROM incidents i "
            "JOIN grids g ON g.id = i.grid_id ORDER BY external_id")).all()
    assert len(rows) == 3
    for x, y, cell, grid in rows:
        assert cell == h3.str_to_int(h3.latlng_to_cell(y, x, 12))
        assert grid == "G003"  # south-west quadrant


def test_single_feature(client, engine):
    r = post(client, feature(9), ctype="application/json")
    assert r.status_code == 200 and r.json()["inserted"] == 1
    assert n_incidents(engine) == 1


def test_ndjson(client, engine):
    body = "\n".join(json.dumps(feature(i), ensure_ascii=False) for i in range(5)) + "\n"
    r = post(client, body, ctype="application/x-ndjson")
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 5 and n_incidents(engine) == 5


def test_posting_twice_is_idempotent(client, engine):
    body = collection(*(feature(i) for i in range(4)))
    assert post(client, body).json()["inserted"] == 4
    again = post(client, body).json()
    assert again == {"received": 4, "inserted": 0, "already_present": 4, "updated": 0}
    assert n_incidents(engine) == 4


def test_feature_id_becomes_external_id(client, engine):
    f = feature(1)
    del f["properties"]["external_id"]
    f["id"] = "hotline-778"
    assert post(client, f).status_code == 200
    assert post(client, f).json()["already_present"] == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT external_id FROM incidents")).scalar() == "hotline-778"


def test_on_conflict_update(client, engine):
    post(client, feature(1))
    r = post(client, feature(1, status="resolved", resolved_at="2024-06-02T10:00:00+08:00"),
             on_conflict="update")
    assert r.json()["updated"] == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM incidents")).scalar() == "resolved"


def test_gcj02_query_parameter(client, engine):
    glon, glat = wgs84_to_gcj02(118.03, 36.79)
    f = feature(0, lon=float(glon), lat=float(glat))
    assert post(client, f, crs="gcj02").status_code == 200
    with engine.connect() as conn:
        x, y = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM incidents")).one()
    assert x == pytest.approx(118.03, abs=1e-9) and y == pytest.approx(36.79, abs=1e-9)


@pytest.mark.parametrize(("bad", "message"), [
    (feature(2, occurred_at="last tuesday"),
     "incidents: feature 2: occurred_at 'last tuesday' is not an ISO 8601 time"),
    (feature(2, category="gossip"), "feature 2: category 'gossip' is not one of"),
    (feature(2, lon=36.79, lat=118.03), "feature 2: lat/lon swapped?"),
    (feature(2, lon=116.4, lat=39.9),
     "feature 2: (116.4002, 39.9) is far outside the service area"),
    ({"type": "Feature", "properties": {"source": "110", "category": "hazard",
                                        "occurred_at": "2024-01-01T00:00:00Z"},
      "geometry": {"type": "LineString", "coordinates": [[118.03, 36.8], [118.04, 36.8]]}},
     "feature 2: geometry is LineString; incidents takes Point"),
    ({"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": "x"}},
     "feature 2: geometry is not valid GeoJSON"),
    ({"type": "Point", "coordinates": [118, 36]}, "feature 2: expected a GeoJSON Feature"),
])
def test_bad_feature_is_named_and_nothing_is_written(client, engine, bad, message):
    r = post(client, collection(feature(1), bad, feature(3)))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_rows"
    assert message in body["detail"] and body["detail"].endswith("nothing written")
    assert n_incidents(engine) == 0


@pytest.mark.parametrize("odd", [
    {"geometry": "x", "nested": {"a": [1, 2]}},
    {"occurred_at": 1700000000},
    {"source": None},
    {"external_id": 12345678901234567890},
])
def test_odd_properties_never_500(client, engine, odd):
    f = feature(1)
    f["properties"].update(odd)
    r = post(client, f)
    assert r.status_code in (200, 422), r.text
    assert n_incidents(engine) == (1 if r.status_code == 200 else 0)


def test_missing_required_property_is_422(client, engine):
    f = feature(1)
    del f["properties"]["occurred_at"]
    r = post(client, f)
    assert r.status_code == 422 and "missing required field 'occurred_at'" in r.json()["detail"]


@pytest.mark.parametrize(("body", "ctype", "status", "code"), [
    (b"{not json", "application/json", 400, "invalid_input"),
    (b'{"type": "Point", "coordinates": [1, 2]}', "application/json", 400, "invalid_input"),
    (b'{"type": "FeatureCollection", "features": []}', "application/json", 400, "invalid_input"),
    (b"{}\nnot json\n", "application/x-ndjson", 400, "invalid_input"),
    (b"a,b\n1,2\n", "text/csv", 415, "http_error"),
])
def test_malformed_bodies_are_4xx(client, engine, body, ctype, status, code):
    r = post(client, body, ctype=ctype)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"detail", "code"} and r.json()["code"] == code
    assert n_incidents(engine) == 0


def test_only_admin_may_post(client, empty_db, engine):
    _, viewer = keys.create_key(empty_db, "viewer", "wall")
    _, admin = keys.create_key(empty_db, "admin", "hotline bridge")
    body = json.dumps(feature(1))
    r = client.post("/api/v1/incidents", content=body, headers={
        "Content-Type": "application/geo+json", "Authorization": f"Bearer {viewer}"})
    assert r.status_code == 403 and n_incidents(engine) == 0
    r = client.post("/api/v1/incidents", content=body, headers={
        "Content-Type": "application/geo+json", "Authorization": f"Bearer {admin}"})
    assert r.status_code == 200 and n_incidents(engine) == 1

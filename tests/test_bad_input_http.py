"""The bad-input catalogue: every case gets the expected 4xx with a clear message
(``{"detail","code"}``) and writes nothing.

"Writes nothing" is checked on every data table's row count and on the layer
data versions (which any write, even a rolled-back-then-retried one, would bump).
"""

from __future__ import annotations

import pytest
from _seed import seed_sql
from conftest import DATA_TABLES
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState

MAX_BODY = 200_000
INJ = "x' OR '1'='1"
INJ2 = "1; DROP TABLE incidents; --"
PROPS = {"external_id": "bad-1", "source": "12345", "category": "dispute",
         "occurred_at": "2025-02-01T10:00:00+08:00"}


def point(lon, lat, **props) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {**PROPS, **props}}


def fc(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def poly(ring) -> dict:
    return {"type": "Feature", "properties": {"code": "D1"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


SQUARE = [[118.001, 36.751], [118.004, 36.751], [118.004, 36.754], [118.001, 36.754]]
GEO = {"content-type": "application/geo+json"}

# (id, method, path, request kwargs, status, code, words the detail must contain)
CASES = [
    # Malformed JSON and wrong bodies.
    ("truncated-json", "POST", "/api/v1/incidents",
     {"content": b'{"type": "FeatureCollection", "features": [', "headers": GEO},
     400, "invalid_input", "not valid JSON"),
    ("empty-body", "POST", "/api/v1/incidents", {"content": b"", "headers": GEO},
     400, "invalid_input", "not valid JSON"),
    ("ndjson-bad-line", "POST", "/api/v1/incidents",
     {"content": b'{"type":"Feature"}\nnot json\n',
      "headers": {"content-type": "application/x-ndjson"}}, 400, "invalid_input", "line 2"),
    ("wrong-content-type", "POST", "/api/v1/incidents",
     {"content": b"<incident/>", "headers": {"content-type": "text/xml"}},
     415, "http_error", "application/geo+json"),
    ("json-syntax-plan", "POST", "/api/v1/grid-plans",
     {"content": b'{"name": "x",}', "headers": {"content-type": "application/json"}},
     400, "invalid_json", "not valid JSON"),
    ("huge-body-declared", "POST", "/api/v1/incidents",
     {"content": b" " * (MAX_BODY + 1), "headers": GEO}, 413, "body_too_large", "larger than"),
    ("huge-body-streamed", "POST", "/api/v1/cameras",
     {"content": (b"[" + b"0," * 1000 for _ in range(200)), "headers": GEO},
     413, "body_too_large", "larger than"),
    # Wrong GeoJSON types.
    ("bare-geometry", "POST", "/api/v1/incidents",
     {"json": {"type": "Point", "coordinates": [118.01, 36.78]}},
     400, "invalid_input", "expected a GeoJSON Feature or FeatureCollection"),
    ("line-as-incident", "POST", "/api/v1/incidents",
     {"json": fc({**point(0, 0), "geometry": {
         "type": "LineString", "coordinates": [[118.0, 36.78], [118.01, 36.78]]}})},
     422, "invalid_rows", "LineString"),
    ("polygon-as-camera", "POST", "/api/v1/cameras",
     {"json": poly(SQUARE + [SQUARE[0]])}, 400, "invalid_input", "Point"),
    ("point-as-dept-grid", "POST", "/api/v1/grid-plans/1/overlay",
     {"json": fc(point(118.01, 36.78))}, 422, "invalid_geometry", "Point not accepted"),
    ("text-coordinates", "POST", "/api/v1/incidents",
     {"json": fc({**point(0, 0), "geometry": {"type": "Point", "coordinates": ["a", "b"]}})},
     422, "invalid_rows", "feature 1"),
    # Out-of-range coordinates.
    ("lon-218", "POST", "/api/v1/incidents", {"json": fc(point(218.0, 36.8))},
     422, "invalid_rows", "out of range"),
    ("lat-96", "POST", "/api/v1/incidents", {"json": fc(point(118.0, 96.8))},
     422, "invalid_rows", "out of range"),
    ("far-outside", "POST", "/api/v1/incidents", {"json": fc(point(10.0, 10.0))},
     422, "invalid_rows", "far outside the service area"),
    ("camera-lon-500", "POST", "/api/v1/cameras", {"json": {"lon": 500, "lat": 36.8}},
     400, "invalid_input", "(500, 36.8)"),
    ("dept-grid-lat-91", "POST", "/api/v1/grid-plans/1/overlay",
     {"json": fc(poly([[118.0, 36.75], [118.01, 91.0], [118.02, 36.75], [118.0, 36.75]]))},
     422, "invalid_geometry", "latitude 91.0 out of range"),
    # Open rings and self-intersections.
    ("open-ring", "POST", "/api/v1/grid-plans/1/overlay", {"json": fc(poly(SQUARE))},
     422, "invalid_geometry", "ring 0 is not closed"),
    ("short-ring", "POST", "/api/v1/grid-plans/1/overlay",
     {"json": fc(poly([[118.0, 36.75], [118.01, 36.76], [118.0, 36.75]]))},
     422, "invalid_geometry", "at least 4 positions"),
    ("bow-tie", "POST", "/api/v1/grid-plans/1/overlay",
     {"json": fc(poly([[118.0, 36.75], [118.01, 36.76], [118.01, 36.75], [118.0, 36.76],
                       [118.0, 36.75]]))},
     422, "invalid_geometry", "self-intersection at (118.005, 36.755)"),
    # SQL injection strings in every enumerated filter.
    ("inj-incident-category", "POST", "/api/v1/incidents",
     {"json": fc(point(118.01, 36.78, category=INJ))}, 422, "invalid_rows", "not one of"),
    ("inj-hotspot-category", "GET", f"/api/v1/hotspots?category={INJ}", {},
     400, "invalid_input", "unknown category"),
    ("inj-hotspot-source", "GET", f"/api/v1/hotspots?source={INJ2}", {},
     400, "invalid_input", "unknown source"),
    ("inj-tile-category", "GET", f"/tiles/incidents/12/3391/1580.pbf?category={INJ}", {},
     400, "invalid_input", "unknown category"),
    ("inj-tile-source", "GET", f"/tiles/incidents/12/3391/1580.pbf?source={INJ2}", {},
     400, "invalid_input", "unknown source"),
    ("inj-tile-layer", "GET", "/tiles/incidents;DROP TABLE roads/12/3391/1580.pbf", {},
     404, "unknown_layer", "unknown tile layer"),
    ("inj-ogc-collection", "GET", "/ogc/collections/roads;DROP TABLE roads/items", {},
     404, "unknown_layer", "unknown collection"),
    ("inj-ogc-unknown-field", "GET", f"/ogc/collections/roads/items?name%3B--={INJ}", {},
     400, "invalid_input", "unknown parameter"),
    ("inj-camera-status", "GET", f"/api/v1/cameras?status={INJ}", {},
     422, "invalid_parameter", "status"),
    ("inj-coverage-level", "GET", f"/api/v1/coverage/summary?level={INJ}", {},
     422, "invalid_parameter", "level"),
    ("inj-siting-weight", "POST", "/api/v1/coverage/siting", {"json": {"k": 3, "weight": INJ}},
     422, "invalid_parameter", "weight"),
    ("inj-plan-id", "GET", f"/api/v1/grid-plans/{INJ2}", {}, 422, "invalid_parameter", "plan"),
    ("inj-camera-code", "POST", "/api/v1/cameras",
     {"json": {"lon": 118.01, "lat": 36.78, "code": INJ2}}, 400, "invalid_input", "GB/T 28181"),
    # Bad dates.
    ("date-word", "POST", "/api/v1/incidents",
     {"json": fc(point(118.01, 36.78, occurred_at="yesterday"))},
     422, "invalid_rows", "not an ISO 8601 time"),
    ("date-hotspots", "GET", "/api/v1/hotspots?from=2025-02-30", {},
     400, "invalid_input", "2025-02-30"),
    ("date-inverted", "GET", "/api/v1/hotspots?from=2025-05-01&to=2025-01-01", {},
     400, "invalid_input", "must be before"),
    ("date-ogc", "GET", "/ogc/collections/incidents/items?datetime=2025-13-45", {},
     400, "invalid_input", "RFC 3339"),
    ("date-ogc-inverted", "GET",
     "/ogc/collections/incidents/items?datetime=2025-03-01/2025-01-01", {},
     400, "invalid_input", "start is after the end"),
    ("date-tile", "GET", "/tiles/incidents/12/3391/1580.pbf?from=garbage", {},
     400, "invalid_input", "ISO 8601"),
    ("date-resolved-before", "POST", "/api/v1/incidents",
     {"json": fc(point(118.01, 36.78, resolved_at="2025-01-01T00:00:00+08:00"))},
     422, "invalid_rows", "resolved"),
    # Negative and out-of-range numbers.
    ("ogc-negative-limit", "GET", "/ogc/collections/roads/items?limit=-5", {},
     400, "invalid_input", "limit=-5"),
    ("ogc-negative-offset", "GET", "/ogc/collections/roads/items?offset=-1", {},
     400, "invalid_input", "offset=-1"),
    ("cameras-negative-limit", "GET", "/api/v1/cameras?limit=-1", {},
     422, "invalid_parameter", "limit"),
    ("gaps-negative-limit", "GET", "/api/v1/coverage/gaps?limit=-3", {},
     422, "invalid_parameter", "limit"),
    ("gaps-negative-area", "GET", "/api/v1/coverage/gaps?min_area=-1", {},
     422, "invalid_parameter", "min_area"),
    ("siting-negative-k", "POST", "/api/v1/coverage/siting", {"json": {"k": -2}},
     422, "invalid_parameter", "k"),
    ("hotspot-res", "GET", "/api/v1/hotspots?res=99", {}, 400, "invalid_input", "res"),
    ("hotspot-k", "GET", "/api/v1/hotspots?k=-1", {}, 400, "invalid_input", "k must be"),
    ("tile-zoom", "GET", "/tiles/incidents/99/0/0.pbf", {}, 400, "invalid_input", "z=99"),
    ("tile-x", "GET", "/tiles/incidents/3/100/0.pbf", {}, 400, "invalid_input", "x=100"),
    ("camera-azimuth", "PUT", "/api/v1/cameras/1", {"json": {"azimuth": 400}},
     400, "invalid_input", "azimuth 400"),
    ("camera-fov", "PUT", "/api/v1/cameras/1", {"json": {"fov": -5}},
     400, "invalid_input", "fov -5"),
    ("bbox-three-numbers", "GET", "/api/v1/cameras?bbox=1,2,3", {},
     400, "invalid_input", "four numbers"),
    ("bbox-out-of-range", "GET", "/ogc/collections/roads/items?bbox=200,36,201,37", {},
     400, "invalid_input", "outside lon"),
    ("redistrict-target", "POST", "/api/v1/grid-plans/1/redistrict", {"json": {"target": -300}},
     422, "invalid_parameter", "target"),
    ("unknown-crs", "POST", "/api/v1/incidents?crs=EPSG:99999",
     {"json": fc(point(118.01, 36.78))}, 400, "invalid_input", "unknown CRS"),
    # All-or-nothing: one bad feature among good ones writes none of them.
    ("one-bad-of-two", "POST", "/api/v1/incidents",
     {"json": fc(point(118.01, 36.78, external_id="ok-1"),
                 point(118.01, 36.78, external_id="bad-2", source="999"))},
     422, "invalid_rows", "feature 2"),
]


@pytest.fixture(scope="module")
def seeded(db_settings, engine):
    """The session database with a little of every layer, open local mode."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
        conn.execute(text(seed_sql()))
        conn.execute(text("DELETE FROM api_keys"))
    app = create_app(AppState.build(api=ApiSettings(_env_file=None, max_body_bytes=MAX_BODY),
                                    db=db_settings))
    with TestClient(app) as client:
        yield client, engine


def snapshot(engine) -> dict:
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in DATA_TABLES}
        versions = dict(conn.execute(text("SELECT layer, version FROM layer_versions")).all())
    return {"rows": counts, "versions": versions}


def test_catalogue_is_big_enough():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_4xx_and_writes_nothing(seeded, case):
    _, method, path, kwargs, status, code, words = case
    client, engine = seeded
    before = snapshot(engine)
    r = client.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail", "code"}, body
    assert body["code"] == code, body
    assert words in body["detail"], body
    assert snapshot(engine) == before


@pytest.mark.parametrize("path", [
    f"/ogc/collections/roads/items?name={INJ}",
    f"/ogc/collections/incidents/items?category={INJ}",
    f"/ogc/collections/incidents/items?external_id={INJ2}",
    f"/ogc/collections/cameras/items?class={INJ}",
    f"/api/v1/grid-plans/1/grids?community={INJ}",
])
def test_injection_in_free_text_filters_matches_nothing(seeded, path):
    """Free-text filters bind their value: the string is looked for, never executed."""
    client, engine = seeded
    before = snapshot(engine)
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.json()["features"] == []
    after = snapshot(engine)
    # Only the audit log grew: a read of features is an export, and exports are logged.
    assert after["rows"].pop("audit_log") == before["rows"].pop("audit_log") + 1
    assert after == before

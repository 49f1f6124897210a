"""Camera CRUD over HTTP: validation like the loader, views recomputed in the request."""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text
from test_coverage_support import add_area, add_building, to_local, to_lonlat

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState

CODE = "37030300001320000001"


@pytest.fixture()
def client(empty_db, db_settings):
    with empty_db.begin() as conn:
        add_area(conn, "D", "district", shapely.box(-500, -500, 500, 500))
        add_building(conn, shapely.box(-50, 20, 50, 25))  # a wall north of the origin
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        yield c


def _at(x, y):
    p = to_lonlat(shapely.Point(x, y))
    return [p.x, p.y]


def _feature(x=0.0, y=0.0, **props):
    base = {"code": CODE, "name": "东门", "class": "二类", "kind": "bullet", "azimuth": 0.0,
            "fov": 90.0, "range_m": 40.0, "height_m": 0.0, "tilt": 0.0}
    base.update(props)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": _at(x, y)},
            "properties": base}


def _view_area(engine, cid):
    with engine.connect() as conn:
        return conn.execute(text("SELECT area_m2 FROM camera_views WHERE camera_id = :i"),
                            {"i": cid}).scalar()


def test_create_validates_like_the_loader_and_computes_the_view(client, empty_db):
    r = client.post("/api/v1/cameras", json=_feature())
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    f = r.json()
    p = f["properties"]
    assert p["class"] == "B" and p["code"] == CODE and p["status"] == "online"
    # facing the wall 20 m north: it sees the 40 m wide triangle in front of it only
    assert p["view_area_m2"] == pytest.approx(400.0, rel=1e-3)
    assert _view_area(empty_db, f["id"]) == pytest.approx(400.0, rel=1e-3)
    flat = client.post("/api/v1/cameras", json={"lon": _at(200, 0)[0], "lat": _at(200, 0)[1],
                                                "class": "1", "kind": "球机", "range_m": 30})
    assert flat.status_code == 201, flat.text
    q = flat.json()["properties"]
    assert q["class"] == "A" and q["kind"] == "dome" and q["view_area_m2"] > 2000


@pytest.mark.parametrize("body, needle", [
    (_feature(fov=400.0), "fov"),
    (_feature(code="12345"), "code"),
    (_feature(**{"class": "Z"}), "class"),
    (_feature(azimuth=360.0), "azimuth"),
    (_feature(range_m=0), "range_m"),
    (_feature(resolution_px=-5), "resolution_px"),
    (_feature(colour="red"), "unknown camera field"),
    ({"type": "Feature", "properties": {"name": "x"}, "geometry": None}, "location"),
    ({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": []}},
     "Point"),
    ({"lon": "east", "lat": 36.8}, "lon and lat"),
])
def test_bad_cameras_are_refused_with_a_clear_message(client, empty_db, body, needle):
    r = client.post("/api/v1/cameras", json=body)
    assert r.status_code == 400, r.text
    err = r.json()
    assert set(err) == {"detail", "code"} and needle in err["detail"]
    with empty_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cameras")).scalar() == 0


def test_far_away_camera_and_non_object_body(client):
    r = client.post("/api/v1/cameras", json={"lon": 2.35, "lat": 48.85})
    assert r.status_code in (400, 422) and "outside" in r.json()["detail"]
    r = client.post("/api/v1/cameras", json=[1, 2])
    assert r.status_code == 400 and r.json()["code"] == "invalid_input"
    assert "JSON object" in r.json()["detail"]


def test_duplicate_code_is_a_conflict(client):
    assert client.post("/api/v1/cameras", json=_feature()).status_code == 201
    r = client.post("/api/v1/cameras", json=_feature(x=100))
    assert r.status_code == 409 and r.json()["code"] == "conflict"


def test_update_recomputes_the_view_and_offline_drops_it(client, empty_db):
    cid = client.post("/api/v1/cameras", json=_feature()).json()["id"]
    r = client.put(f"/api/v1/cameras/{cid}", json={"azimuth": 180.0})
    assert r.status_code == 200, r.text
    p = r.json()["properties"]
    # facing south, away from the wall: the full quarter disc
    assert p["azimuth"] == 180.0 and p["view_area_m2"] == pytest.approx(3.14159265 * 400, rel=5e-3)
    got = client.get(f"/api/v1/cameras/{cid}", params={"view": "true"}).json()
    view = to_local(shapely.geometry.shape(got["properties"]["view"]))
    assert view.contains(shapely.Point(0, -20)) and not view.contains(shapely.Point(0, 10))
    moved = client.put(f"/api/v1/cameras/{cid}", json={"type": "Feature", "properties": {},
                                                        "geometry": {"type": "Point",
                                                                     "coordinates": _at(0, 100)}})
    assert moved.status_code == 200
    assert moved.json()["geometry"]["coordinates"] == pytest.approx(_at(0, 100))
    off = client.put(f"/api/v1/cameras/{cid}", json={"status": "offline"}).json()
    assert off["properties"]["status"] == "offline" and off["properties"]["view_area_m2"] is None
    assert _view_area(empty_db, cid) is None
    bad = client.put(f"/api/v1/cameras/{cid}", json={"tilt": 120})
    assert bad.status_code == 400 and "tilt" in bad.json()["detail"]
    with empty_db.connect() as conn:
        actions = [r[0] for r in conn.execute(text(
            "SELECT action FROM audit_log WHERE action LIKE 'camera.%' ORDER BY id"))]
    assert actions[:4] == ["camera.create", "camera.update", "camera.update", "camera.update"]


def test_list_filter_get_and_delete(client, empty_db):
    a = client.post("/api/v1/cameras", json=_feature()).json()["id"]
    b = client.post("/api/v1/cameras", json=_feature(x=300, code=None, status="fault",
                                                     **{"class": "三类"})).json()["id"]
    fc = client.get("/api/v1/cameras").json()
    assert fc["type"] == "FeatureCollection" and [f["id"] for f in fc["features"]] == [a, b]
    assert [f["id"] for f in client.get("/api/v1/cameras", params={"class": "C"}).json()
            ["features"]] == [b]
    assert [f["id"] for f in client.get("/api/v1/cameras", params={"status": "online"}).json()
            ["features"]] == [a]
    x0, y0 = _at(250, -50)
    x1, y1 = _at(350, 50)
    boxed = client.get("/api/v1/cameras", params={"bbox": f"{x0},{y0},{x1},{y1}"}).json()
    assert [f["id"] for f in boxed["features"]] == [b]
    assert client.get("/api/v1/cameras", params={"bbox": "1,2,3"}).status_code == 400
    assert client.get("/api/v1/cameras/999").status_code == 404
    assert client.delete(f"/api/v1/cameras/{a}").status_code == 204
    assert client.get(f"/api/v1/cameras/{a}").status_code == 404
    assert client.delete(f"/api/v1/cameras/{a}").status_code == 404
    assert client.put(f"/api/v1/cameras/{a}", json={"azimuth": 1}).status_code == 404
    with empty_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM camera_views")).scalar() == 0

"""Grid plans over HTTP: the ARCHITECTURE.md §5 routes, If-Match/412, 409 on non-drafts,
4xx bodies."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from test_grid_fixtures import COMMUNITIES, PROJ, community_boxes, load_synthetic_city

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState

BASE = "/api/v1/grid-plans"


@pytest.fixture()
def client(empty_db, db_settings):
    ids = load_synthetic_city(empty_db)
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        c.active = ids["active"]
        yield c


def draft(client, name="草案"):
    r = client.post(BASE, json={"from_plan": client.active, "name": name})
    assert r.status_code == 201, r.text
    return r.json()


def test_list_create_get(client):
    plans = client.get(BASE).json()
    assert [p["status"] for p in plans] == ["active"]
    d = draft(client)
    assert d["status"] == "draft" and d["parent_id"] == client.active and d["grids"] == 6
    r = client.get(f"{BASE}/{d['id']}")
    assert r.status_code == 200 and r.headers["etag"] == f'"{d["version"]}"'
    assert client.get(f"{BASE}/active").json()["id"] == client.active
    assert len(client.get(BASE).json()) == 2


def test_redistrict_then_grids_and_evaluate(client):
    d = draft(client)
    r = client.post(
        f"{BASE}/{d['id']}/redistrict",
        json={"target": 300, "tolerance": 0.15},
        headers={"If-Match": f'"{d["version"]}"'},
    )
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["within_band_share"] >= 0.99 and rep["version"] == d["version"] + 1
    assert {i["kind"] for i in rep["infeasible"]} == {
        "building_over_upper_bound",
        "community_too_small",
    }
    fc = client.get(f"{BASE}/{d['id']}/grids").json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == rep["grids"]
    props = fc["features"][0]["properties"]
    assert {
        "code",
        "households",
        "community_code",
        "deviation",
        "within_band",
        "locked",
        "building_ids",
    } <= set(props)
    assert props["households"] > 0 and props["building_ids"]
    assert fc["features"][0]["geometry"]["type"] == "MultiPolygon"
    b = client.get(f"{BASE}/{d['id']}/buildings", params={"grid": props["code"]}).json()
    assert sorted(f["id"] for f in b["features"]) == sorted(props["building_ids"])
    assert all(f["properties"]["grid"] == props["code"] for f in b["features"])
    ev = client.get(f"{BASE}/{d['id']}/evaluate").json()
    assert ev["summary"]["within_band_share"] >= 0.99 and ev["summary"]["non_contiguous"] == 0
    one = client.get(
        f"{BASE}/{d['id']}/evaluate", params={"community": COMMUNITIES[0], "grids": "false"}
    ).json()
    assert [c["community_code"] for c in one["communities"]] == [COMMUNITIES[0]]
    assert "grids" not in one
    # The interactive view's evaluation skips the contiguity proofs and nothing else.
    fast = client.get(f"{BASE}/{d['id']}/evaluate", params={"exact": "false"}).json()
    assert fast["summary"]["within_band_share"] == ev["summary"]["within_band_share"]
    assert not any(x["kind"] == "no_contiguous_grouping_fits" for x in fast["infeasible"])
    assert ([x for x in fast["infeasible"] if x["kind"] != "no_contiguous_grouping_fits"]
            == [x for x in ev["infeasible"] if x["kind"] != "no_contiguous_grouping_fits"])


def test_edit_needs_if_match_and_stale_version_is_412(client, empty_db):
    d = draft(client)
    url = f"{BASE}/{d['id']}/edits"
    code = COMMUNITIES[0] + "001"
    r = client.post(url, json={"op": "lock", "grid": code})
    assert r.status_code == 428 and r.json()["code"] == "precondition_required"
    r = client.post(
        url, json={"op": "lock", "grid": code}, headers={"If-Match": f'"{d["version"]}"'}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == d["version"] + 1 and r.headers["etag"] == f'"{body["version"]}"'
    assert body["evaluation"]["grids"][0]["locked"] is True
    # a second client still holding the old version
    r = client.post(
        url, json={"op": "unlock", "grid": code}, headers={"If-Match": f'"{d["version"]}"'}
    )
    assert r.status_code == 412
    assert r.json() == {"detail": r.json()["detail"], "code": "plan_version_conflict"}
    with empty_db.connect() as conn:
        locked = conn.execute(
            text("SELECT locked FROM grids WHERE plan_id = :p AND code = :c"),
            {"p": d["id"], "c": code},
        ).scalar()
        version = conn.execute(
            text("SELECT version FROM grid_plans WHERE id = :p"), {"p": d["id"]}
        ).scalar()
    assert locked is True and version == d["version"] + 1
    r = client.post(url, json={"op": "lock", "grid": code}, headers={"If-Match": "garbage"})
    assert r.status_code == 412


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"op": "explode"}, 422, "invalid_parameter"),
        ({"op": "split", "grid": "nope", "k": 2}, 404, "not_found"),
        ({"op": "split", "grid": COMMUNITIES[0] + "001", "k": 99}, 400, "invalid_input"),
        ({"op": "move", "buildings": [1], "to_grid": "nope"}, 404, "not_found"),
    ],
)
def test_bad_edits_get_4xx(client, body, status, code):
    d = draft(client)
    r = client.post(f"{BASE}/{d['id']}/edits", json=body, headers={"If-Match": str(d["version"])})
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["detail"]


def test_active_plan_edit_is_409_and_unknown_plan_404(client):
    r = client.post(
        f"{BASE}/{client.active}/edits",
        json={"op": "lock", "grid": "x"},
        headers={"If-Match": '"1"'},
    )
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert client.get(f"{BASE}/999999").status_code == 404
    assert client.get(f"{BASE}/abc").status_code == 422
    r = client.post(BASE, json={"from_plan": 999999, "name": "x"})
    assert r.status_code == 404
    r = client.post(f"{BASE}/{client.active}/redistrict", json={"tolerance": 3})
    assert r.status_code == 422


def test_publish_and_diff(client):
    d = draft(client)
    rep = client.post(f"{BASE}/{d['id']}/redistrict", json={}).json()
    r = client.post(f"{BASE}/{d['id']}/publish", headers={"If-Match": f'"{rep["version"]}"'})
    assert r.status_code == 202, r.text
    job = r.json()
    for _ in range(600):
        if job["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
        job = client.get(r.headers["location"]).json()
    assert job["state"] == "succeeded", job
    assert job["result"]["archived"] == client.active
    assert client.get(f"{BASE}/active").json()["id"] == d["id"]
    diff = client.get(f"{BASE}/{client.active}/diff/{d['id']}").json()
    assert diff["buildings_moved"] > 0 and diff["layer"]["type"] == "FeatureCollection"
    assert {f["properties"]["change"] for f in diff["layer"]["features"]} <= {
        "added",
        "changed",
        "removed",
    }
    assert client.post(f"{BASE}/{d['id']}/publish").status_code == 409


def test_overlay(client):
    import shapely

    box = community_boxes()[0]
    geom = shapely.geometry.mapping(PROJ.to_lonlat(box))
    layer = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {"name": "综治网格1"}, "geometry": geom}],
    }
    r = client.post(f"{BASE}/active/overlay", json=layer)
    assert r.status_code == 200, r.text
    f = r.json()["layer"]["features"][0]["properties"]
    assert f["key"] == "综治网格1" and f["status"] == "match"
    r = client.post(f"{BASE}/active/overlay", json={"type": "FeatureCollection", "features": []})
    assert r.status_code == 400 and r.json()["code"] == "invalid_input"

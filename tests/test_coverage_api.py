"""Coverage over HTTP and from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import shapely
from fastapi.testclient import TestClient
from test_coverage_gaps import BUILDINGS, CAMS, COMMUNITY, PLAZA, _incidents
from test_coverage_support import (
    add_area,
    add_building,
    add_camera,
    add_incidents,
    add_road,
    to_local,
)

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo.coverage.settings import CoverageSettings
from geo.coverage.views import refresh_all
from geo.settings import ServiceAreaSettings


@pytest.fixture()
def town(empty_db):
    with empty_db.begin() as conn:
        add_area(conn, "D", "district", COMMUNITY)
        add_area(conn, "C1", "community", COMMUNITY, parent="D")
        for b in BUILDINGS:
            add_building(conn, b)
        add_road(conn, shapely.LineString([(0, 150), (600, 150)]))
        add_road(conn, shapely.LineString([(480, 0), (480, 300)]))
        for c in CAMS:
            add_camera(conn, **c)
        add_incidents(conn, _incidents())
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    return empty_db


@pytest.fixture()
def client(town, db_settings):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        yield c


def test_summary_per_level(client):
    r = client.get("/api/v1/coverage/summary", params={"level": "community"})
    assert r.status_code == 200, r.text
    body = r.json()
    (unit,) = body["units"]
    assert unit["code"] == "C1" and 0 < unit["area_share"] < 1
    assert set(unit["by_class"]) == {"A", "B", "C"}
    assert body["cameras"]["by_status"]["online"] == len(CAMS)
    assert client.get("/api/v1/coverage/summary").json()["units"][0]["code"] == "city"


@pytest.mark.parametrize("params", [{"level": "province"}, {"days": 0}, {"until": "soon"}])
def test_bad_summary_parameters(client, params):
    r = client.get("/api/v1/coverage/summary", params=params)
    # Times are read by the shared parser (400 invalid_input, as on every route).
    assert r.status_code == (400 if "until" in params else 422)
    assert set(r.json()) == {"detail", "code"}


def test_missing_grids_is_404(client):
    r = client.get("/api/v1/coverage/summary", params={"level": "grid"})
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_gaps_feature_collection(client):
    r = client.get("/api/v1/coverage/gaps", params={"limit": 3, "min_area": 500})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 3
    top = to_local(shapely.geometry.shape(fc["features"][0]["geometry"]))
    assert top.intersects(PLAZA)
    assert all(f["properties"]["area_m2"] >= 500 for f in fc["features"])
    assert client.get("/api/v1/coverage/gaps", params={"bbox": "1,2"}).status_code == 400
    assert client.get("/api/v1/coverage/gaps", params={"limit": 0}).status_code == 422


def test_siting_over_http(client):
    r = client.post("/api/v1/coverage/siting", json={"k": 2, "weight": "incidents"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["curve"]) == 3 and body["curve"][2]["share"] > body["curve"][0]["share"]
    assert body["sites"]["type"] == "FeatureCollection" and len(body["sites"]["features"]) == 2
    for bad in ({"k": 0}, {"k": 2, "weight": "votes"}, {"k": 2, "candidates": [{"lon": 500}]}):
        r = client.post("/api/v1/coverage/siting", json=bad)
        assert r.status_code == 422 and set(r.json()) == {"detail", "code"}


def test_refresh_over_http(client):
    r = client.post("/api/v1/coverage/refresh")
    assert r.status_code == 200 and r.json()["views"] == len(CAMS)


def _cli(env, *args):
    return subprocess.run([sys.executable, "-m", "api.cli", "coverage", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_refresh_summary_gaps_siting(town, db_env, tmp_path):
    r = _cli(db_env, "refresh")
    assert r.returncode == 0, r.stderr
    assert f"{len(CAMS)} views stored" in r.stdout and "gaps stored" in r.stdout
    r = _cli(db_env, "summary", "--level", "community", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["units"][0]["code"] == "C1"
    r = _cli(db_env, "summary", "--level", "community")
    assert r.returncode == 0 and "C1" in r.stdout
    out = tmp_path / "gaps.geojson"
    r = _cli(db_env, "gaps", "--limit", "5", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert len(json.loads(out.read_text())["features"]) == 5
    sites = tmp_path / "sites.geojson"
    r = _cli(db_env, "siting", "--k", "2", "--out", str(sites))
    assert r.returncode == 0, r.stderr
    assert len(json.loads(sites.read_text())["features"]) == 2 and "→" in r.stdout


def test_cli_errors_are_one_line(town, db_env):
    r = _cli(db_env, "summary", "--level", "province")
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "unknown level" in r.stderr
    r = _cli(db_env, "siting", "--k", "2", "--weight", "votes")
    assert r.returncode != 0 and "unknown weight" in r.stderr

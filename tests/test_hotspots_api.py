"""The hotspot routes over HTTP (ARCHITECTURE.md §5): shapes, echoed parameters, z equal to
esda on what the API returns, and clear 4xx answers for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_hotspots_data import LATE, STEADY_CELL9, load
from test_hotspots_stats import esda_z

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState

PROPS = {"h3", "count", "gi_z", "p_value", "bin", "class"}


@pytest.fixture(scope="module")
def client(engine, db_settings):
    load(engine)
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        yield c


def test_hotspots_feature_collection_echoes_parameters(client):
    r = client.get("/api/v1/hotspots", params={"res": 9, "k": 1, "alpha": 0.05,
                                               "from": "2025-01-01", "to": "2025-12-31"})
    assert r.status_code == 200, r.text
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    p = fc["parameters"]
    assert (p["res"], p["k"], p["alpha"]) == (9, 1, 0.05)
    assert p["from"] == "2025-01-01T00:00:00+08:00" and p["to"] == "2026-01-01T00:00:00+08:00"
    assert p["cells"] == len(fc["features"])
    counts = np.array([f["properties"]["count"] for f in fc["features"]])
    assert counts.sum() == p["incidents"] and (counts == 0).any()
    feat = fc["features"][0]
    assert set(feat["properties"]) == PROPS and feat["geometry"]["type"] == "Polygon"
    ring = feat["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and 117 < ring[0][0] < 119 and 36 < ring[0][1] < 38
    by_cell = {f["properties"]["h3"]: f["properties"] for f in fc["features"]}
    assert by_cell[STEADY_CELL9]["bin"] == 3 and by_cell[STEADY_CELL9]["class"] == "hot_99"


def test_api_z_scores_equal_esda(client):
    fc = client.get("/api/v1/hotspots", params={"res": 9, "k": 2}).json()
    import h3

    cells = np.array([h3.str_to_int(f["properties"]["h3"]) for f in fc["features"]])
    order = np.argsort(cells)
    counts = np.array([f["properties"]["count"] for f in fc["features"]])[order]
    z = np.array([f["properties"]["gi_z"] for f in fc["features"]])[order]
    assert np.max(np.abs(z - esda_z(counts, cells[order], 2))) < 1e-9


def test_significant_only_keeps_binned_cells(client):
    fc = client.get("/api/v1/hotspots", params={"significant_only": "true"}).json()
    assert fc["features"] and all(f["properties"]["bin"] != 0 for f in fc["features"])
    assert sum(fc["summary"].values()) == fc["parameters"]["cells"]


def test_emerging(client):
    r = client.get("/api/v1/hotspots/emerging", params={"res": 9, "step": "week",
                                                        "from": "2025-01-01", "to": "2025-12-31"})
    assert r.status_code == 200, r.text
    fc = r.json()
    assert fc["parameters"]["steps"] == 52 and fc["parameters"]["step"] == "week"
    props = {f["properties"]["h3"]: f["properties"] for f in fc["features"]}
    assert {"category", "trend_z", "trend_p"} <= set(next(iter(props.values())))
    import h3

    assert props[h3.latlng_to_cell(LATE.lat, LATE.lon, 9)]["category"] in ("new", "consecutive")
    assert props[STEADY_CELL9]["category"] == "persistent"


def test_backtest(client):
    r = client.get("/api/v1/hotspots/backtest", params={
        "res": 9, "train_from": "2025-01-01", "train_to": "2025-06-30",
        "test_from": "2025-07-01", "test_to": "2025-12-31", "top": 0.05})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"hit_rate", "pai", "rri", "cells", "parameters"} <= set(body)
    assert 0 < body["hit_rate"] <= 1 and body["pai"] > 1
    assert body["cells"][0]["h3"] and body["parameters"]["top"] == 0.05


def test_heatmap_points_and_cells(client):
    r = client.get("/api/v1/heatmap", params={"category": "dispute"})
    assert r.status_code == 200, r.text
    body = r.json()
    lat, lon, w = body["points"][0]
    assert 36 < lat < 38 and 117 < lon < 119 and w > 0
    assert 100 <= body["parameters"]["bandwidth_m"] <= 1000 and body["max"] >= w
    cells = client.get("/api/v1/heatmap", params={"bandwidth_m": 300, "res": 9,
                                                  "format": "cells"}).json()
    assert cells["type"] == "FeatureCollection" and cells["parameters"]["bandwidth_m"] == 300


@pytest.mark.parametrize("path, params, status, code", [
    ("/api/v1/hotspots", {"res": 5}, 400, "invalid_input"),
    ("/api/v1/hotspots", {"res": 13}, 400, "invalid_input"),
    ("/api/v1/hotspots", {"from": "2025-06-01", "to": "2025-01-01"}, 400, "invalid_input"),
    ("/api/v1/hotspots", {"category": "aliens"}, 400, "invalid_input"),
    ("/api/v1/hotspots", {"bbox": "100,95,101,96"}, 400, "invalid_input"),
    ("/api/v1/hotspots", {"from": "2031-01-01", "to": "2031-02-01"}, 422, "not_enough_data"),
    ("/api/v1/hotspots", {"res": "nine"}, 422, "invalid_parameter"),
    ("/api/v1/hotspots/emerging", {"step": "day"}, 422, "invalid_parameter"),
    ("/api/v1/hotspots/emerging", {"from": "2025-12-01", "to": "2025-12-20"}, 422,
     "not_enough_data"),
    ("/api/v1/hotspots/backtest", {"train_from": "2025-01-01"}, 400, "invalid_input"),
    ("/api/v1/heatmap", {"bandwidth_m": 5}, 400, "invalid_input"),
])
def test_bad_requests_get_clear_4xx(client, path, params, status, code):
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["detail"]

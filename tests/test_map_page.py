"""The map page's server side: HTML, roles, embed parameters, labels, summary figures,
the text dictionary and the GCJ-02 port, against the real database (no browser)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from test_map_seed import NEWEST, X0, X1, Y0, Y1, seed_town

from api.app import create_app
from api.map.config import LAYERS, EmbedRequest, PageConfig, allowed_layers
from api.map.i18n import EN, ZH
from api.settings import ApiSettings
from api.state import AppState
from geo.crs import wgs84_to_gcj02
from geo.errors import InvalidInput
from geo.settings import DatabaseSettings

STATIC = Path(__file__).resolve().parent.parent / "api" / "map" / "static"


@pytest.fixture()
def town(empty_db: Engine) -> Engine:
    seed_town(empty_db)
    return empty_db


@pytest.fixture()
def client(db_settings: DatabaseSettings) -> TestClient:
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        yield c


def page_config(html: str) -> dict:
    m = re.search(r"window\.ONEMAP = (\{.*?\});\n", html)
    assert m, "page has no config"
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_dictionaries_have_the_same_keys() -> None:
    assert set(ZH) == set(EN)
    assert all(v.strip() for v in list(ZH.values()) + list(EN.values()))


def test_page_is_chinese_first_and_references_only_local_assets(town: Engine,
                                                                client: TestClient) -> None:
    r = client.get("/map")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="zh-CN">' in html and "<title>一张图 · 市域社会治理</title>" in html
    # Every script and stylesheet is ours, under /static; nothing names another host.
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(u.startswith("/static/") or u == "data:," for u in refs), refs
    assert "cdn" not in html.lower() and "http://" not in html and "https://" not in html
    for ref in refs:
        if ref.startswith("/static/"):
            assert client.get(ref).status_code == 200, ref
    cfg = page_config(html)
    assert cfg["lang"] == "zh" and cfg["planner"] and cfg["summary"] and not cfg["embed"]
    assert cfg["layers"] == list(LAYERS)
    assert cfg["bounds"] == [[Y0, X0], [Y1, X1]]
    assert cfg["anchor"] == NEWEST.isoformat()
    assert cfg["band"] == {"target": 300, "tolerance": 0.15}


def test_english_by_setting(town: Engine, db_settings: DatabaseSettings) -> None:
    app = create_app(AppState.build(api=ApiSettings(_env_file=None, language="en"), db=db_settings))
    with TestClient(app) as c:
        html = c.get("/map").text
    assert '<html lang="en">' in html and "<title>One Map · City Governance</title>" in html
    assert page_config(html)["t"]["layer.grids"] == "Grids (household deviation)"


def test_static_assets_are_served_with_a_cache_lifetime(client: TestClient) -> None:
    r = client.get("/static/vendor/leaflet/leaflet.js")
    assert r.status_code == 200 and "max-age" in r.headers["cache-control"]
    assert client.get("/static/map/nothing.js").status_code == 404


def test_embed_shows_what_it_asks_for_without_chrome(town: Engine, client: TestClient) -> None:
    r = client.get("/map/embed", params={"layers": "grids,incidents", "center": "118.05,36.80",
                                         "zoom": 15})
    assert r.status_code == 200
    cfg = page_config(r.text)
    assert cfg["embed"] and not cfg["planner"]
    assert cfg["layers"] == ["grids", "incidents"] and cfg["visible"] == ["grids", "incidents"]
    assert cfg["view"] == {"center": [36.80, 118.05], "zoom": 15}
    assert "leaflet-geoman" not in r.text  # no planner code in a widget


@pytest.mark.parametrize("query, message", [
    ({"layers": "grids,secret"}, "unknown layer(s) secret"),
    ({"center": "118.05"}, "center must be lon,lat"),
    ({"center": "200,36"}, "is not a lon,lat position"),
    ({"zoom": 30}, "zoom must be between 0 and 22"),
])
def test_embed_rejects_bad_parameters(client: TestClient, query: dict, message: str) -> None:
    r = client.get("/map/embed", params=query)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid_input" and message in body["detail"]


def test_widget_role_gets_tiles_only_layers() -> None:
    s = ApiSettings(_env_file=None)
    widget = allowed_layers("widget", s)
    assert "heatmap" not in widget and "emerging" not in widget
    assert "camera_views" not in widget and "coverage_gaps" not in widget
    assert "incidents" in widget and "cameras" in widget  # incidents aggregated by the tiles
    # Single open cases never; posts, response areas and the 平安指数 are areas and places.
    assert "case_warnings" not in widget and "case_warnings" in LAYERS
    assert {"posts", "response_areas", "safety_index"} <= set(widget)
    hide = ApiSettings(_env_file=None, widget_cameras="hide")
    show = ApiSettings(_env_file=None, widget_cameras="show")
    assert "cameras" not in allowed_layers("widget", hide)
    assert "camera_views" in allowed_layers("widget", show)
    assert allowed_layers("viewer", s) == LAYERS
    from datetime import UTC, datetime

    cfg = PageConfig(s, "widget", (X0, Y0, X1, Y1), datetime.now(UTC),
                     embed=EmbedRequest.parse("grids,heatmap,incidents", None, None)).as_json()
    assert cfg["layers"] == ["grids", "incidents"]
    assert cfg["hotspotSource"] == "tiles" and not cfg["summary"] and not cfg["planner"]
    viewer = PageConfig(s, "viewer", (X0, Y0, X1, Y1), datetime.now(UTC)).as_json()
    assert not viewer["planner"] and viewer["summary"]


def test_embed_request_parsing() -> None:
    e = EmbedRequest.parse(" grids , cameras ", "118.1,36.7", 0)
    assert e.layers == ("grids", "cameras") and e.center == (118.1, 36.7) and e.zoom == 0
    with pytest.raises(InvalidInput):
        EmbedRequest.parse("", "a,b", None)


def test_labels_put_every_admin_area_inside_itself(town: Engine, client: TestClient) -> None:
    labels = client.get("/map/labels").json()
    assert [a["level"] for a in labels] == ["district"] + ["street"] * 2 + ["community"] * 4
    assert labels[0]["name"] == "张店区"
    with town.connect() as conn:
        for a in labels:
            inside = conn.execute(text(
                "SELECT ST_Contains(geom, ST_SetSRID(ST_Point(:x, :y), 4326)) FROM admin_areas "
                "WHERE code = :c"), dict(x=a["lon"], y=a["lat"], c=a["code"])).scalar_one()
            assert inside, a


def test_summary_counts_incidents_in_view_window_and_filters(town: Engine,
                                                             client: TestClient) -> None:
    bbox = f"{X0},{Y0},{(X0 + X1) / 2},{Y1}"
    params = {"bbox": bbox, "from": "2026-10-17T18:00:00Z", "to": "2026-11-16T18:00:01Z",
              "category": "hazard", "source": ""}
    got = client.get("/map/summary", params=params).json()
    with town.connect() as conn:
        want = conn.execute(text("""
            SELECT count(*) FROM incidents
            WHERE ST_X(geom) BETWEEN :x0 AND :x1 AND ST_Y(geom) BETWEEN :y0 AND :y1
              AND occurred_at >= '2026-10-17T18:00:00Z' AND occurred_at < '2026-11-16T18:00:01Z'
              AND category = 'hazard'"""), dict(x0=X0, x1=(X0 + X1) / 2, y0=Y0, y1=Y1)).scalar_one()
    assert want > 0
    assert got == {"incidents": want, "from": "2026-10-17T18:00:00+00:00",
                   "to": "2026-11-16T18:00:01+00:00"}


@pytest.mark.parametrize("params, message", [
    ({"bbox": "1,2,3", "from": "2026-01-01", "to": "2026-02-01"}, "bbox must be"),
    ({"bbox": "3,2,1,4", "from": "2026-01-01", "to": "2026-02-01"}, "min < max"),
    ({"bbox": "1,2,3,4", "from": "yesterday", "to": "2026-02-01"},
     "from='yesterday' is not an ISO 8601"),
    ({"bbox": "1,2,3,4", "from": "2026-01-01", "to": "2026-02-01", "category": "x"},
     "unknown category"),
    ({"bbox": "1,2,3,4", "from": "2026-01-01", "to": "2026-02-01", "source": "x"},
     "unknown source"),
])
def test_summary_rejects_bad_input(client: TestClient, params: dict, message: str) -> None:
    r = client.get("/map/summary", params=params)
    assert r.status_code == 400 and message in r.json()["detail"]
    assert r.json()["code"] == "invalid_input"


def test_empty_database_opens_on_the_demo_district(empty_db: Engine, client: TestClient) -> None:
    cfg = page_config(client.get("/map").text)
    assert cfg["bounds"] == [[36.76, 118.00], [36.84, 118.10]]


def test_gcj02_port_matches_python() -> None:
    """The page's JavaScript GCJ-02 offset equals geo.crs to 1e-12 degrees."""
    pts = [(118.05, 36.80), (116.397, 39.909), (121.47, 31.23), (113.26, 23.13), (87.6, 43.8)]
    js = (STATIC / "map" / "gcj02.js").read_text()
    script = ("global.window = {}; global.L = {TileLayer: {extend: () => ({})}};\n" + js +
              f"\nconsole.log(JSON.stringify({json.dumps(pts)}.map(p => "
              "window.onemap.gcj02.offset(p[1], p[0]))));")
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    got = np.array(json.loads(out.stdout))
    lon, lat = np.array(pts).T
    glon, glat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_allclose(got[:, 0], glat - lat, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got[:, 1], glon - lon, rtol=0, atol=1e-12)
    assert np.all(np.abs(got) > 1e-4)  # inside China the shift is hundreds of metres

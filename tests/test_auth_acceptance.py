"""Roles and privacy end to end on the real routers and the small demo city.

- a request without a key to a non-loopback-bound app gets 401;
- ``widget`` gets 403 on raw incidents and only suppressed aggregates on tiles:
  no cell with count < k in any tile of the demo's extent it can fetch;
- ``viewer`` cannot edit plans (``planner`` can, and is audited);
- a revoked key stops working at once.
"""

from __future__ import annotations

import math
import subprocess
import sys
import uuid
from datetime import timedelta

import mapbox_vector_tile
import pytest
from conftest import clone_database, drop_database
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo import keys
from geo.db.engine import make_engine
from tiles.cells import widget_res

K = 5
ZOOMS = (12, 13, 14, 15)


@pytest.fixture(scope="module")
def demo(pg_server, _small_demo_template):
    """A private copy of the small demo with one key per role."""
    template, _ = _small_demo_template
    name = f"{template}_auth_{uuid.uuid4().hex[:6]}"
    settings = clone_database(pg_server, template, name)
    engine = make_engine(settings)
    made = {role: keys.create_key(engine, role, f"{role} test") for role in keys.ROLES}
    yield settings, engine, made
    engine.dispose()
    drop_database(pg_server, name)


@pytest.fixture(scope="module")
def client(demo):
    settings, _, _ = demo
    app = create_app(AppState.build(api=ApiSettings(_env_file=None, widget_min_count=K),
                                    db=settings))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def window(demo) -> dict[str, str]:
    """The demo's last two whole ISO weeks: a short window makes many cells small, so the
    suppression has work to do. Whole weeks, because a widget's window is widened to its
    blocks of ONEMAP_WIDGET_TIME_DAYS (7) local days from a Monday."""
    with demo[1].connect() as conn:
        last = conn.execute(text("SELECT max(occurred_at)::date FROM incidents")).scalar()
    monday = last - timedelta(days=last.weekday())
    day = "T00:00:00+08:00"  # full times: no date-only conventions to reproduce
    return {"from": (monday - timedelta(days=14)).isoformat() + day,
            "to": monday.isoformat() + day}


def auth(demo, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo[2][role][1]}"}


def tiles_covering(engine, z: int) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        x0, y0, x1, y1 = conn.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) e FROM incidents) s")).one()

    def tile(lon, lat):
        n = 2 ** z
        return (int((lon + 180) / 360 * n),
                int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))

    (tx0, ty0), (tx1, ty1) = tile(x0, y1), tile(x1, y0)
    return [(x, y) for x in range(tx0, tx1 + 1) for y in range(ty0, ty1 + 1)]


def small_cells(engine, res: int, window: dict[str, str]) -> set[str]:
    """H3 cells (hex) holding 1..k-1 incidents in the window: what must never show."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT h3_{int(res)} AS c FROM incidents "
            "WHERE occurred_at >= CAST(:t0 AS timestamptz) "
            "AND occurred_at < CAST(:t1 AS timestamptz) "
            "GROUP BY 1 HAVING count(*) < :k"),
            {"res": res, "t0": window["from"], "t1": window["to"], "k": K}).scalars().all()
    return {format(int(c), "x") for c in rows}


def test_widget_sees_only_suppressed_aggregates_in_every_tile(demo, client, window):
    _, engine, _ = demo
    fetched = cells_seen = 0
    for z in ZOOMS:
        forbidden = small_cells(engine, widget_res(z), window)
        assert forbidden, f"the window has no small cells at z{z}: the check would be empty"
        for x, y in tiles_covering(engine, z):
            for layer in ("incidents", "incidents,roads"):
                r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", params=window,
                               headers=auth(demo, "widget"))
                assert r.status_code == 200, r.text
                assert "private" in r.headers["cache-control"]
                fetched += 1
                decoded = mapbox_vector_tile.decode(r.content) if r.content else {}
                for f in decoded.get("incidents", {}).get("features", []):
                    props = f["properties"]
                    assert set(props) == {"h3", "count"}, props  # no ids, no categories
                    assert props["count"] >= K, (z, x, y, props)
                    assert props["h3"] not in forbidden
                    assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
                    cells_seen += 1
    print(f"\nwidget: {fetched} tiles fetched at z{ZOOMS}, {cells_seen} cells, none below {K}")
    assert cells_seen > 0


def test_admin_tiles_do_show_raw_points(demo, client, window):
    """The same tiles differ by role (so the widget check above can fail)."""
    _, engine, _ = demo
    x, y = tiles_covering(engine, 15)[len(tiles_covering(engine, 15)) // 2]
    found = 0
    for dx in range(-2, 3):
        r = client.get(f"/tiles/incidents/15/{x + dx}/{y}.pbf", params=window,
                       headers=auth(demo, "admin"))
        assert r.status_code == 200
        layer = mapbox_vector_tile.decode(r.content).get("incidents", {}) if r.content else {}
        found += sum(f["geometry"]["type"] == "Point" for f in layer.get("features", []))
    assert found > 0


@pytest.mark.parametrize("method, path", [
    ("GET", "/ogc/collections/incidents/items"),
    ("GET", "/ogc/collections/incidents/items/1"),
    ("POST", "/api/v1/incidents"),
    ("GET", "/api/v1/hotspots"),
    ("GET", "/api/v1/heatmap"),
    ("GET", "/map/summary?bbox=118,36.7,118.2,36.9&from=2025-01-01&to=2025-02-01"),
    ("GET", "/ogc/collections/coverage_gaps/items"),
    ("GET", "/api/v1/cameras"),
])
def test_widget_gets_403_on_raw_incidents_and_security_data(demo, client, method, path):
    r = client.request(method, path, headers=auth(demo, "widget"))
    assert r.status_code == 403, r.text
    assert r.json()["code"] == "forbidden"


@pytest.mark.parametrize("path", [
    "/tiles/incidents/tilejson.json",
    "/ogc/collections/roads/items?limit=2",
    "/ogc/collections",
    "/map/embed?layers=incidents",
])
def test_widget_may_read_public_layers(demo, client, path):
    assert client.get(path, headers=auth(demo, "widget")).status_code == 200


def test_viewer_cannot_edit_plans_planner_can(demo, client):
    _, engine, made = demo
    new = {"name": "调整方案", "from_plan": None}
    r = client.post("/api/v1/grid-plans", json=new, headers=auth(demo, "viewer"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = client.post("/api/v1/grid-plans/active/redistrict", json={}, headers=auth(demo, "viewer"))
    assert r.status_code == 403
    assert client.get("/api/v1/grid-plans", headers=auth(demo, "viewer")).status_code == 200

    r = client.post("/api/v1/grid-plans", json=new, headers=auth(demo, "planner"))
    assert r.status_code == 201, r.text
    planner_id = made["planner"][0].key_id
    with engine.connect() as conn:
        actors = conn.execute(text(
            "SELECT actor FROM audit_log WHERE action = 'POST /api/v1/grid-plans'")).scalars().all()
    assert actors == [f"key:{planner_id} (planner test)"]


def test_revoked_key_stops_working_at_once(demo, client):
    settings, engine, _ = demo
    key, secret = keys.create_key(engine, "viewer", "to revoke")
    h = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/grid-plans", headers=h).status_code == 200
    proc = subprocess.run([sys.executable, "-m", "api.cli", "keys", "revoke", key.key_id],
                          env={"ONEMAP_DATABASE_URL": settings.database_url, "PATH": ""},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    r = client.get("/api/v1/grid-plans", headers=h)
    assert r.status_code == 401
    assert r.json()["detail"] == "invalid or revoked API key"


def test_no_key_on_a_non_loopback_app_gets_401(demo):
    settings, _, _ = demo
    app = create_app(AppState.build(api=ApiSettings(_env_file=None, host="0.0.0.0"), db=settings))
    with TestClient(app) as c:
        for path in ("/api/v1/grid-plans", "/tiles/roads/tilejson.json", "/ogc/collections",
                     "/map"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert r.json()["code"] == "unauthorized"
        assert c.get("/healthz").status_code == 200
        assert c.get("/api/v1/grid-plans", headers=auth(demo, "viewer")).status_code == 200

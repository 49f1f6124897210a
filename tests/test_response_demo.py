"""Response circles on the small demo: an independent networkx oracle, pgRouting, the API.

The oracle below is written apart from ``geo.response``: it nodes each road at its
crossings with the others (``intersection`` + cut, not a union), inserts every
post and building as a node of its street, and runs networkx's Dijkstra from a
super-source whose arcs carry each post's turnout and connector.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from response_oracle import oracle_households
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo.db.engine import make_engine
from geo.response.context import reach_context
from geo.response.settings import ResponseSettings
from geo.settings import ServiceAreaSettings

SETTINGS = ResponseSettings(_env_file=None)


@pytest.fixture()
def demo_engine(small_demo_copy):
    eng = make_engine(small_demo_copy)
    yield eng
    eng.dispose()


@pytest.mark.parametrize("mode,breaks", [("drive", (1, 3, 5)), ("walk", (5, 10))])
def test_households_reached_equal_an_independent_networkx_oracle(demo_engine, mode, breaks):
    ctx = reach_context(demo_engine, mode, settings=SETTINGS, area=ServiceAreaSettings())
    hh = ctx.buildings.frame["households"].to_numpy(float)
    best = ctx.building_s.min(axis=0)
    want = oracle_households(demo_engine, mode, breaks)
    for m in breaks:
        got = float(hh[best <= m * 60].sum())
        assert got == pytest.approx(want[m], rel=0.01), (mode, m)
    values = [want[m] for m in breaks]
    assert values == sorted(values) and values[-1] > values[0]


def test_pgrouting_driving_distance_equals_scipy(demo_engine):
    from geo.response.pgr import pgr_node_seconds
    ctx = reach_context(demo_engine, "drive", settings=SETTINGS, area=ServiceAreaSettings())
    for p in range(len(ctx.posts)):
        with demo_engine.begin() as conn:
            pgr = pgr_node_seconds(conn, ctx.graph, p, 300.0)
        mine = ctx.node_s[p]
        nodes = np.flatnonzero(mine <= 300.0 - 1e-6)
        assert set(pgr) >= set(nodes.tolist())
        got = np.array([pgr[n] for n in nodes])
        np.testing.assert_allclose(got, mine[nodes], rtol=1e-9, atol=1e-6)


def test_planted_weakness_is_listed_first(demo_engine, small_demo_truth):
    weak = small_demo_truth["response_weakness"]
    app = create_app(AppState.build(api=ApiSettings(_env_file=None),
                                    db=_settings_of(demo_engine)))
    with TestClient(app) as client:
        r = client.get("/api/v1/response/summary",
                       params={"level": "community", "minutes": "1,3,5"})
        assert r.status_code == 200, r.text
        body = r.json()
        first = body["unreached"]["features"][0]["properties"]
        assert first["code"] == weak["code"]
        assert first["share_unreached"] == 1.0
        unit = next(u for u in body["units"] if u["code"] == weak["code"])
        assert unit["reached"]["5"]["households"] == 0
        assert sum(u["reached"]["5"]["households"] for u in body["units"]) > 0


def _settings_of(engine):
    from geo.settings import DatabaseSettings
    return DatabaseSettings(_env_file=None,
                            database_url=engine.url.render_as_string(hide_password=False))


def test_api_answers_and_refuses_bad_input(demo_engine):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None),
                                    db=_settings_of(demo_engine)))
    with TestClient(app) as client:
        for overlap in ("dissolve", "split", "overlap"):
            r = client.get("/api/v1/response/areas", params={"minutes": "1,3,5",
                                                             "overlap": overlap})
            assert r.status_code == 200, r.text
            feats = r.json()["features"]
            assert {f["properties"]["minutes"] for f in feats} == {1, 3, 5}
        dissolved = client.get("/api/v1/response/areas").json()["features"]
        hh = [f["properties"]["households"] for f in dissolved]
        assert hh == sorted(hh) and hh[0] < hh[-1]
        area = [f["properties"]["area_m2"] for f in dissolved]
        assert area == sorted(area)
        walk = client.get("/api/v1/response/areas", params={"mode": "walk"}).json()
        assert [f["properties"]["minutes"] for f in walk["features"]] == [10]
        # nearest: fastest first, routes are LineStrings
        r = client.get("/api/v1/response/nearest", params={"lon": 118.05, "lat": 36.80, "k": 3})
        assert r.status_code == 200, r.text
        feats = r.json()["features"]
        assert len(feats) == 3
        secs = [f["properties"]["seconds"] for f in feats]
        assert secs == sorted(secs)
        assert all(f["geometry"]["type"] == "LineString" for f in feats)
        r = client.post("/api/v1/response/siting", json={"k": 3, "minutes": 3})
        assert r.status_code == 200, r.text
        curve = [c["reached"] for c in r.json()["curve"]]
        assert len(curve) == 4 and curve == sorted(curve) and curve[-1] > curve[0]
        bad = [("/api/v1/response/areas", {"mode": "fly"}),
               ("/api/v1/response/areas", {"minutes": "0"}),
               ("/api/v1/response/areas", {"minutes": "61"}),
               ("/api/v1/response/areas", {"minutes": "a"}),
               ("/api/v1/response/areas", {"overlap": "stack"}),
               ("/api/v1/response/summary", {"level": "planet"}),
               ("/api/v1/response/nearest", {"lon": 119.5, "lat": 36.8}),
               ("/api/v1/response/nearest", {"lon": 118.05}),
               ("/api/v1/response/areas", {"kind": "spaceport"})]
        for path, params in bad:
            r = client.get(path, params=params)
            assert 400 <= r.status_code < 500, (path, params, r.status_code)
            assert set(r.json()) >= {"detail", "code"}
        with demo_engine.begin() as conn:
            conn.execute(text("UPDATE posts SET status = 'off_duty' WHERE mode = 'walk'"))
        r = client.get("/api/v1/response/areas", params={"mode": "walk"})
        assert r.status_code == 422 and r.json()["code"] == "infeasible"
        assert "no on-duty post" in r.json()["detail"]


def test_posts_and_response_areas_through_ogc_and_tiles(small_demo_copy, demo_engine,
                                                        small_demo_city):
    from test_tiles_support import features, tile_of

    with demo_engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT mode, minutes, post_code IS NULL AS dissolved, households FROM response_areas "
            "ORDER BY mode, minutes")).all()
    assert {(m, mi) for m, mi, d, _ in stored if d} == {("drive", 1), ("drive", 3), ("drive", 5),
                                                         ("walk", 10)}
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=small_demo_copy))
    with TestClient(app) as client:
        r = client.get("/ogc/collections/posts/items", params={"limit": 100})
        assert r.status_code == 200, r.text
        assert len(r.json()["features"]) == len(small_demo_city.posts)
        r = client.get("/ogc/collections/response_areas/items",
                       params={"mode": "drive", "limit": 1000})
        assert r.status_code == 200, r.text
        dissolved = [f for f in r.json()["features"] if f["properties"]["post_code"] is None]
        assert sorted(f["properties"]["minutes"] for f in dissolved) == [1, 3, 5]
        tj = client.get("/tiles/response_areas/tilejson.json").json()
        assert tj["vector_layers"][0]["id"] == "response_areas"
        p = small_demo_city.posts.geometry.iloc[0]
        x, y = tile_of(p.x, p.y, 14)
        r = client.get(f"/tiles/response_areas/14/{x}/{y}.pbf")
        assert r.status_code == 200
        assert any(f["properties"]["mode"] == "drive" for f in features(r.content,
                                                                           "response_areas"))
        r = client.get(f"/tiles/posts/14/{x}/{y}.pbf")
        assert r.status_code == 200
        assert features(r.content, "posts")


def test_cli_answers_and_fails_in_one_line(small_demo_copy, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "ONEMAP_DATABASE_URL": small_demo_copy.database_url}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "api.cli", "response", *args], env=env,
                              capture_output=True, text=True, timeout=300)

    out = tmp_path / "areas.geojson"
    r = run("areas", "--minutes", "1,3,5", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert len(__import__("json").loads(out.read_text())["features"]) == 3
    r = run("nearest", "--lon", "118.05", "--lat", "36.80", "--k", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("1. ")
    for bad in (["areas", "--mode", "fly"], ["areas", "--minutes", "90"],
                ["nearest", "--lon", "119.5", "--lat", "36.8"]):
        r = run(*bad)
        assert r.returncode != 0
        assert "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr

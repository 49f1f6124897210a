"""Tile cache, ETags and invalidation, gzip, coalescing, cancellation, timeouts,
Cache-Control, /metrics and CORS, against the real database."""

from __future__ import annotations

import asyncio
import gzip
import time

import asyncpg
import psycopg
import pytest
from sqlalchemy import text
from test_tiles_support import (
    LAT0,
    LON0,
    client_for,
    features,
    seed_cameras,
    seed_plan_with_grids,
    tile_of,
)

from geo.db.urls import libpq_url
from tiles.cache import Tile, TileCache
from tiles.render import Policy
from tiles.service import TileService
from tiles.settings import TileSettings

CAM = (16, *tile_of(LON0 + 0.002, LAT0 + 0.002, 16))
GRID = (14, *tile_of(LON0 + 0.002, LAT0 + 0.002, 14))


def _url(layer: str, zxy: tuple[int, int, int]) -> str:
    return f"/tiles/{layer}/{zxy[0]}/{zxy[1]}/{zxy[2]}.pbf"


def _renders(client) -> float:
    m = client.get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in m.splitlines()
               if line.startswith("onemap_tile_render_seconds_count"))


def test_editing_a_camera_changes_only_camera_etags(empty_db, db_settings):
    seed_cameras(empty_db, 30, spread=0.004)
    seed_plan_with_grids(empty_db, "active")
    with client_for(db_settings) as client:
        cam1 = client.get(_url("cameras", CAM))
        grid1 = client.get(_url("grids", GRID))
        assert cam1.status_code == grid1.status_code == 200
        assert features(cam1.content, "cameras") and features(grid1.content, "grids")
        renders = _renders(client)
        for r, url in ((cam1, _url("cameras", CAM)), (grid1, _url("grids", GRID))):
            again = client.get(url, headers={"If-None-Match": r.headers["etag"]})
            assert again.status_code == 304 and again.content == b""
            assert again.headers["etag"] == r.headers["etag"]
        assert _renders(client) == renders  # 304s rendered nothing
        cid = features(cam1.content, "cameras")[0]["id"]
        with empty_db.begin() as conn:
            conn.execute(text("UPDATE cameras SET status = 'fault' WHERE id = :i"), {"i": cid})
        deadline = time.monotonic() + 10
        while True:
            cam2 = client.get(_url("cameras", CAM), headers={"If-None-Match": cam1.headers["etag"]})
            if cam2.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert cam2.status_code == 200, "the camera edit never changed the cameras ETag"
        assert cam2.headers["etag"] != cam1.headers["etag"]
        (edited,) = [f for f in features(cam2.content, "cameras") if f["id"] == cid]
        assert edited["properties"]["status"] == "fault"
        grid2 = client.get(_url("grids", GRID), headers={"If-None-Match": grid1.headers["etag"]})
        assert grid2.status_code == 304
        assert grid2.headers["etag"] == grid1.headers["etag"]


def test_plan_activation_changes_grid_etags(empty_db, db_settings):
    first = seed_plan_with_grids(empty_db, "active", name="a")
    second = seed_plan_with_grids(empty_db, "draft", name="b")
    with client_for(db_settings) as client:
        before = client.get(_url("grids", GRID))
        with empty_db.begin() as conn:
            flip = text("UPDATE grid_plans SET status = :s WHERE id = :i")
            conn.execute(flip, {"s": "archived", "i": first})
            conn.execute(flip, {"s": "active", "i": second})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = client.get(_url("grids", GRID))
            if after.headers["etag"] != before.headers["etag"]:
                break
            time.sleep(0.05)
    assert {f["properties"]["plan_id"] for f in features(before.content, "grids")} == {first}
    assert {f["properties"]["plan_id"] for f in features(after.content, "grids")} == {second}


def test_gzip_when_accepted_and_identity_otherwise(empty_db, db_settings):
    seed_cameras(empty_db, 200, spread=0.004)
    with client_for(db_settings) as client:
        zipped = client.get(_url("cameras", CAM), headers={"Accept-Encoding": "gzip"})
        plain = client.get(_url("cameras", CAM), headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert zipped.content == plain.content  # httpx undid the gzip once (no double encoding)
    assert int(zipped.headers["content-length"]) < len(plain.content)
    assert zipped.headers["etag"] == plain.headers["etag"]
    assert zipped.headers["vary"] == "Accept-Encoding"


def test_cache_control_is_configurable_and_private_for_role_layers(empty_db, db_settings,
                                                                    monkeypatch):
    monkeypatch.setenv("ONEMAP_TILE_LAYERS", '{"roads": {"cache_control": "public, max-age=3600"}}')
    with client_for(db_settings) as client:
        roads = client.get(_url("roads", CAM))
        cams = client.get(_url("cameras", CAM))
        grids = client.get(_url("grids", GRID))
    assert roads.headers["cache-control"] == "public, max-age=3600"
    assert cams.headers["cache-control"] == "private, max-age=60"
    assert grids.headers["cache-control"] == "public, max-age=60"


def test_cache_is_bounded_by_bytes():
    cache = TileCache(max_bytes=10_000)
    for i in range(100):
        cache.put(f"k{i}", Tile(bytes(1000), ("roads",)))
        assert cache.nbytes <= 10_000
    assert 0 < len(cache) < 10
    assert cache.get("k99") is not None and cache.get("k0") is None
    assert cache.stats.evictions == 100 - len(cache)
    assert cache.drop_layer("roads") == len(cache) or len(cache) == 0
    assert cache.nbytes == 0


async def _service(db_settings, **env) -> tuple[TileService, asyncpg.Pool, list]:
    pool = await asyncpg.create_pool(libpq_url(db_settings), min_size=1, max_size=8,
                                     server_settings={"application_name": "onemap-tiles-test"})
    renders: list = []

    async def get_pool():
        return pool

    service = TileService(TileSettings(_env_file=None, **env), get_pool, libpq_url(db_settings),
                          Policy(), observer=lambda *a: renders.append(a))
    await service.start()
    return service, pool, renders


def test_concurrent_requests_for_one_tile_run_one_query(empty_db, db_settings):
    seed_cameras(empty_db, 300, spread=0.004)

    async def run():
        service, pool, renders = await _service(db_settings)
        try:
            req = service.request("cameras", *CAM, {}, "admin")
            etag = service.etag(req)
            results = await asyncio.gather(*(service.tile(req, etag) for _ in range(20)))
            again, state = await service.tile(req, etag)
        finally:
            await service.close()
            await pool.close()
        return results, again, state, renders, service.cache.stats

    results, again, state, renders, stats = asyncio.run(run())
    assert len(renders) == 1
    assert sorted(s for _, s in results) == ["coalesced"] * 19 + ["miss"]
    assert len({id(t) for t, _ in results}) == 1 and features(again.data, "cameras")
    assert state == "hit" and stats.coalesced == 19 and stats.misses == 1


def _waiting(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'onemap-tiles-test' "
        "AND state = 'active' AND query LIKE '%ST_AsMVT%'"
    ).fetchone()[0]


def test_query_is_cancelled_when_every_waiter_leaves(empty_db, db_settings):
    seed_cameras(empty_db, 10, spread=0.004)
    url = libpq_url(db_settings)
    with psycopg.connect(url) as locker, psycopg.connect(url, autocommit=True) as watcher:
        locker.execute("LOCK TABLE cameras IN ACCESS EXCLUSIVE MODE")

        async def run():
            service, pool, _ = await _service(db_settings)
            try:
                req = service.request("cameras", *CAM, {}, "admin")
                waiters = [asyncio.ensure_future(service.tile(req, service.etag(req)))
                           for _ in range(3)]
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    if _waiting(watcher):
                        break
                seen = _waiting(watcher)
                for w in waiters:
                    w.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
                for _ in range(100):
                    if not _waiting(watcher):
                        break
                    await asyncio.sleep(0.05)
                return seen, _waiting(watcher), service.cache.stats.cancelled
            finally:
                await service.close()
                await pool.close()

        seen, left, cancelled = asyncio.run(run())
        locker.rollback()
    assert seen == 1  # three callers, one query
    assert left == 0 and cancelled == 1


def test_slow_tile_query_times_out_with_504(empty_db, db_settings, monkeypatch):
    seed_cameras(empty_db, 10, spread=0.004)
    monkeypatch.setenv("ONEMAP_TILE_LAYERS", '{"cameras": {"timeout_ms": 300}}')
    with psycopg.connect(libpq_url(db_settings)) as locker, client_for(db_settings) as client:
        locker.execute("LOCK TABLE cameras IN ACCESS EXCLUSIVE MODE")
        t0 = time.monotonic()
        r = client.get(_url("cameras", CAM))
        elapsed = time.monotonic() - t0
        locker.rollback()
        ok = client.get(_url("cameras", CAM))
    assert r.status_code == 504
    assert r.json()["code"] == "tile_timeout" and "300 ms" in r.json()["detail"]
    assert elapsed < 3
    assert ok.status_code == 200 and features(ok.content, "cameras")


def test_metrics_report_per_layer_latency_and_size(empty_db, db_settings):
    seed_cameras(empty_db, 50, spread=0.004)
    with client_for(db_settings) as client:
        first = client.get(_url("cameras", CAM), headers={"Accept-Encoding": "identity"})
        client.get(_url("cameras", CAM), headers={"Accept-Encoding": "identity"})
        client.get(_url("roads", CAM))
        body = client.get("/metrics")
    assert body.status_code == 200 and body.headers["content-type"].startswith("text/plain")
    values = {}
    for line in body.text.splitlines():
        if line.startswith("onemap_") and " " in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    assert values['onemap_tile_request_seconds_count{cache="miss",layer="cameras"}'] == 1
    assert values['onemap_tile_request_seconds_count{cache="hit",layer="cameras"}'] == 1
    assert values['onemap_tile_request_seconds_count{cache="miss",layer="roads"}'] == 1
    assert values['onemap_tile_response_bytes_sum{layer="cameras"}'] == 2 * len(first.content)
    assert values['onemap_tile_render_bytes_sum{layer="cameras"}'] == len(first.content)
    assert values["onemap_tile_cache_entries"] == 2
    assert values["onemap_tile_cache_bytes"] > len(first.content)


def test_cors_allow_list(empty_db, db_settings):
    seed_cameras(empty_db, 5, spread=0.004)
    allowed, other = "https://widgets.example.cn", "https://evil.example"
    with client_for(db_settings, cors_origins=[allowed]) as client:
        ok = client.get(_url("cameras", CAM), headers={"Origin": allowed})
        no = client.get(_url("cameras", CAM), headers={"Origin": other})
        pre = client.options(_url("cameras", CAM), headers={
            "Origin": allowed, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "If-None-Match"})
    assert ok.headers["access-control-allow-origin"] == allowed
    assert "etag" in ok.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in no.headers
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == allowed


@pytest.mark.parametrize("query", ["", "?category=hazard&from=2024-01-01"])
def test_tilejson_describes_layers_bounds_and_url(empty_db, db_settings, query):
    pts = seed_cameras(empty_db, 20, spread=0.01)
    with client_for(db_settings) as client:
        doc = client.get(f"/tiles/cameras,incidents/tilejson.json{query}").json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == [f"http://testserver/tiles/cameras,incidents/{{z}}/{{x}}/{{y}}.pbf{query}"]
    layers = {v["id"]: v for v in doc["vector_layers"]}
    assert set(layers) == {"cameras", "incidents"}
    assert layers["cameras"]["fields"]["class"] == "String"
    assert layers["cameras"]["fields"]["count"] == "Number"
    assert layers["incidents"]["fields"]["hazard"] == "Number"
    assert layers["cameras"]["minzoom"] == 0 and layers["cameras"]["maxzoom"] == 22
    lon0, lat0 = pts.min(axis=0)
    lon1, lat1 = pts.max(axis=0)
    x0, y0, x1, y1 = doc["bounds"]  # from planner statistics: float4, rounded outwards
    assert x0 <= lon0 and y0 <= lat0 and x1 >= lon1 and y1 >= lat1
    assert [x0, y0, x1, y1] == pytest.approx([lon0, lat0, lon1, lat1], abs=1e-4)


def test_gzip_bytes_are_made_once(empty_db, db_settings):
    seed_cameras(empty_db, 100, spread=0.004)
    with client_for(db_settings) as client:
        r = client.get(_url("cameras", CAM))
        tile = client.app.state.onemap.tiles.cached(r.headers["etag"])
    assert tile is not None and tile.gz is not None
    assert gzip.decompress(tile.gz) == tile.data == r.content

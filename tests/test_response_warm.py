"""The server's response warm-up (geo/response/warm.py) on the small demo.

At start it computes every mode's reach and the default areas in the background, so
the first requests are answered from the caches; after a change to posts it computes
them again before any request asks; a request never gets an answer older than the
data (one that comes before the warm-up noticed a change computes it itself).
"""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo.db.engine import make_engine
from geo.response.areas import response_areas
from geo.response.context import reach_context
from geo.response.nearest import nearest_posts
from geo.response.settings import ResponseSettings
from geo.settings import DatabaseSettings, ServiceAreaSettings

POINT = {"lon": 118.05, "lat": 36.80, "k": 3}


def _app(demo: DatabaseSettings, monkeypatch):
    monkeypatch.setenv("ONEMAP_RESPONSE_WARM_POLL_S", "0.2")
    db = DatabaseSettings(_env_file=None, database_url=demo.database_url)
    return create_app(AppState.build(api=ApiSettings(_env_file=None), db=db))


@pytest.fixture()
def app(small_demo_copy, monkeypatch):
    return _app(small_demo_copy, monkeypatch)


def _json(obj):
    return orjson.loads(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY))


def _fresh(engine):
    """What a cold computation gives now (no cache at all)."""
    ctx = reach_context(engine, "drive", settings=ResponseSettings(_env_file=None),
                        area=ServiceAreaSettings())
    return ctx, _json(nearest_posts(ctx, POINT["lon"], POINT["lat"], POINT["k"]))


def test_the_first_requests_after_start_are_answered_from_the_warm_caches(app):
    with TestClient(app) as client:
        warmer = app.state.onemap.response_warmer
        assert warmer.wait(1, timeout=120), "no warm-up within 2 minutes"
        cache, answers = app.state.onemap.response_cache, app.state.onemap.response_answers
        made = dict(cache.made)
        assert made["graph"] == 2 and made["reach"] == 2  # drive and walk
        assert answers.made["areas"] == 3 * 2  # dissolve, split, overlap per mode
        for params in ({}, {"overlap": "split"}, {"overlap": "overlap"}, {"mode": "walk"}):
            r = client.get("/api/v1/response/areas", params=params)
            assert r.status_code == 200, r.text
        assert client.get("/api/v1/response/summary",
                          params={"level": "community"}).status_code == 200
        r = client.get("/api/v1/response/nearest", params=POINT)
        assert r.status_code == 200, r.text
        # nothing computed (only the kept areas encoded for the wire)
        assert dict(cache.made) == made and answers.made["areas"] == 3 * 2
        assert answers.made["areas-body"] == 4
        engine = make_engine(app.state.onemap.db)
        try:
            ctx, want = _fresh(engine)
        finally:
            engine.dispose()
        assert r.json()["features"] == want["features"]
        dissolved = client.get("/api/v1/response/areas").json()["features"]
        for coding in ("gzip", "identity"):  # kept bodies per content coding, same answer
            r = client.get("/api/v1/response/areas", headers={"Accept-Encoding": coding})
            assert r.headers.get("content-encoding") == (None if coding == "identity"
                                                         else coding)
            assert r.json()["features"] == dissolved
        assert dissolved == _json(response_areas(ctx, (1.0, 3.0, 5.0)))["features"]


def test_a_change_to_posts_is_warmed_before_it_is_asked_and_never_served_stale(app):
    with TestClient(app) as client:
        warmer = app.state.onemap.response_warmer
        assert warmer.wait(1, timeout=120)
        cache = app.state.onemap.response_cache
        first = client.get("/api/v1/response/nearest", params=POINT).json()["features"]
        fastest = first[0]["properties"]["code"]
        engine = make_engine(app.state.onemap.db)
        try:
            graphs = cache.made["graph"]
            rounds = warmer.rounds
            with engine.begin() as conn:
                conn.execute(text("UPDATE posts SET status = 'off_duty' WHERE code = :c"),
                             {"c": fastest})
            assert warmer.wait(rounds + 1, timeout=120)
            # both modes' graphs (the posts layer moved), made before any request asked
            assert cache.made["graph"] == graphs + 2
            r = client.get("/api/v1/response/nearest", params=POINT)
            assert cache.made["graph"] == graphs + 2
            got = [f["properties"]["code"] for f in r.json()["features"]]
            assert fastest not in got and got[0] == first[1]["properties"]["code"]
            assert r.json()["features"] == _fresh(engine)[1]["features"]
            # Back on duty and asked at once, before the warm-up looks again: still current.
            warmer.stopping.set()
            warmer.thread.join(timeout=120)
            with engine.begin() as conn:
                conn.execute(text("UPDATE posts SET status = 'on_duty' WHERE code = :c"),
                             {"c": fastest})
            r = client.get("/api/v1/response/nearest", params=POINT)
            assert r.json()["features"][0]["properties"]["code"] == fastest
            assert r.json()["features"] == first
            areas = client.get("/api/v1/response/areas").json()["features"]
            want = response_areas(_fresh(engine)[0], (1.0, 3.0, 5.0))
            assert areas == _json(want)["features"]
        finally:
            engine.dispose()


def test_the_warm_up_can_be_turned_off(small_demo_copy, monkeypatch):
    monkeypatch.setenv("ONEMAP_RESPONSE_WARM_UP", "false")  # read when the app is built
    app = _app(small_demo_copy, monkeypatch)
    with TestClient(app) as client:
        assert app.state.onemap.response_warmer.thread is None
        assert client.get("/api/v1/response/nearest", params=POINT).status_code == 200
        assert app.state.onemap.response_cache.made["graph"] == 1  # made by the request


NEW_INCIDENT = text(
    "INSERT INTO incidents (external_id, source, category, subcategory, occurred_at, status, "
    "h3, grid_id, geom, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11, h3_12) "
    "SELECT 'warm-test-' || :n, source, category, subcategory, now() - interval '2 hours', "
    "status, h3, grid_id, geom, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11, h3_12 "
    "FROM incidents ORDER BY id LIMIT 1")


def test_new_incidents_may_lag_only_within_the_bound(small_demo_copy):
    from geo.response.context import ResponseCache

    engine = make_engine(small_demo_copy)
    settings = ResponseSettings(_env_file=None)
    cache = ResponseCache()

    def ctx(lag):
        return reach_context(engine, "drive", settings=settings, cache=cache,
                             incidents_lag_s=lag, area=ServiceAreaSettings())

    try:
        first = ctx(60)
        n = len(first.incidents.frame)
        assert not first.incidents_stale and n > 0
        with engine.begin() as conn:
            conn.execute(NEW_INCIDENT, {"n": 1})
        lagging = ctx(60)  # the new version is not read yet: the last read stands in
        assert lagging.incidents_stale and len(lagging.incidents.frame) == n
        assert lagging.incidents_read_at == first.incidents_read_at
        assert ctx(0).incidents_stale is False and len(ctx(0).incidents.frame) == n + 1
        current = ctx(60)  # read now: current again
        assert not current.incidents_stale and len(current.incidents.frame) == n + 1
        with engine.begin() as conn:
            conn.execute(NEW_INCIDENT, {"n": 2})
        key = next(k for k in cache.latest if k[0] == "incidents")
        state, read_at = cache.latest[key]
        cache.latest[key] = (state, read_at - 61)  # the last read is older than the bound
        late = ctx(60)
        assert not late.incidents_stale and len(late.incidents.frame) == n + 2
        # areas do not depend on incidents: the kept answers' key did not move
        assert late.key == first.key
    finally:
        engine.dispose()


def test_the_server_reads_a_new_incident_in_the_background(app):
    with TestClient(app) as client:
        warmer = app.state.onemap.response_warmer
        assert warmer.wait(1, timeout=120)

        def figures():
            body = client.get("/api/v1/response/summary", params={"level": "city"}).json()
            return body["units"][0]["incidents"], body["window"]

        before, window = figures()
        assert window["incidents_stale"] is False
        engine = make_engine(app.state.onemap.db)
        try:
            rounds = warmer.rounds
            with engine.begin() as conn:
                conn.execute(NEW_INCIDENT, {"n": 1})
            now, window = figures()
            assert now == (before if window["incidents_stale"] else before + 1)
            assert warmer.wait(rounds + 1, timeout=120)
            now, window = figures()
            assert now == before + 1 and window["incidents_stale"] is False
            # without a running warm-up nobody reads in the background: no lag at all
            warmer.stopping.set()
            warmer.poke()
            warmer.thread.join(timeout=120)
            with engine.begin() as conn:
                conn.execute(NEW_INCIDENT, {"n": 2})
            now, window = figures()
            assert now == before + 2 and window["incidents_stale"] is False
        finally:
            engine.dispose()

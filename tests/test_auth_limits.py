"""Body-size limit (413) and per-key rate limit (429 + Retry-After)."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from api.app import create_app
from api.limits import TokenBucket
from api.settings import ApiSettings
from api.state import AppState
from geo import keys

LIMIT = 4096


def _router() -> APIRouter:
    r = APIRouter()

    async def eat(request: Request) -> dict:
        return {"bytes": len(await request.body())}

    r.add_api_route("/api/v1/grid-plans/_probe/x/edits", eat, methods=["POST"])
    return r


@pytest.fixture()
def client(empty_db, db_settings):
    app = create_app(AppState.build(
        api=ApiSettings(_env_file=None, max_body_bytes=LIMIT, rate_limit_per_minute=5),
        db=db_settings))
    app.include_router(_router())
    with TestClient(app) as c:
        yield c


def test_body_within_limit_passes(client):
    r = client.post("/api/v1/grid-plans/_probe/x/edits", content=b"x" * LIMIT)
    assert r.status_code == 200 and r.json() == {"bytes": LIMIT}


def test_declared_large_body_is_refused_before_reading(client):
    r = client.post("/api/v1/grid-plans/_probe/x/edits", content=b"x" * (LIMIT + 1))
    assert r.status_code == 413
    assert r.json()["code"] == "body_too_large"
    assert f"larger than {LIMIT} bytes" in r.json()["detail"]


def test_streamed_large_body_is_cut_off(client):
    sent = 0

    def chunks():
        nonlocal sent
        for _ in range(1000):
            sent += 1024
            yield b"y" * 1024

    r = client.post("/api/v1/grid-plans/_probe/x/edits", content=chunks())
    assert r.status_code == 413
    assert r.json()["code"] == "body_too_large"


def test_rate_limit_answers_429_with_retry_after(client):
    codes = [client.get("/map/labels").status_code for _ in range(5)]
    assert codes == [200] * 5
    r = client.get("/map/labels")
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited"
    assert int(r.headers["retry-after"]) == 12  # one token per 60/5 s
    # Probes are never limited.
    assert client.get("/healthz").status_code == 200


def test_rate_limit_is_per_key(empty_db, db_settings):
    a = keys.create_key(empty_db, "viewer")[1]
    b = keys.create_key(empty_db, "viewer")[1]
    app = create_app(AppState.build(api=ApiSettings(_env_file=None, rate_limit_per_minute=3),
                                    db=db_settings))
    with TestClient(app) as c:
        got_a = [c.get("/map/labels", headers={"Authorization": f"Bearer {a}"}).status_code
                 for _ in range(4)]
        got_b = c.get("/map/labels", headers={"Authorization": f"Bearer {b}"}).status_code
    assert got_a == [200, 200, 200, 429]
    assert got_b == 200


def test_token_bucket_refills():
    b = TokenBucket(60)  # one per second
    for _ in range(60):
        assert b.take("k", now=100.0) == 0.0
    assert b.take("k", now=100.0) == pytest.approx(1.0)
    assert b.take("k", now=100.5) == pytest.approx(0.5)
    assert b.take("k", now=101.0) == 0.0

"""Rates are counted against who a caller proved to be, failures against its address.

Before: the limiter counted per *claimed* key id before authentication, so forged
keys (a new id each time) were never limited, and 25 wrong secrets for a widget
key's public id used up the real key's budget and locked it out.
"""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo import keys

ATTACKER = "203.0.113.7"
OWNER = "198.51.100.20"


def _with_client_header(app):
    """The app, with the client address taken from ``X-Test-Client`` (tests only)."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http":
            for k, v in scope["headers"]:
                if k == b"x-test-client":
                    scope["client"] = (v.decode(), 40000)
        await app(scope, receive, send)

    return wrapped


def _client(db_settings, **api) -> TestClient:
    app = create_app(AppState.build(api=ApiSettings(_env_file=None, **api), db=db_settings))
    return TestClient(_with_client_header(app))


def _forged() -> str:
    return f"om_{secrets.token_hex(6)}_{secrets.token_urlsafe(24)}"


def test_forged_keys_are_limited_per_address(empty_db, db_settings):
    keys.create_key(empty_db, "viewer")  # keys mode: every data route needs a key
    with _client(db_settings, rate_limit_per_minute=5, auth_failures_per_minute=5) as c:
        codes = [c.get("/map/labels", headers={"Authorization": f"Bearer {_forged()}",
                                               "X-Test-Client": ATTACKER}).status_code
                 for _ in range(12)]
        other = c.get("/map/labels", headers={"Authorization": f"Bearer {_forged()}",
                                              "X-Test-Client": OWNER})
        token = c.get("/map/labels", params={"access_token": _forged()},
                      headers={"X-Test-Client": ATTACKER})
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429] * 7
    assert other.status_code == 401  # another address has its own count
    assert token.status_code == 429 and token.json()["code"] == "rate_limited"
    assert int(token.headers["retry-after"]) >= 1


def test_wrong_secrets_never_spend_the_real_keys_budget(empty_db, db_settings):
    key, real = keys.create_key(empty_db, "widget")
    wrong = f"om_{key.key_id}_{secrets.token_urlsafe(24)}"
    with _client(db_settings, rate_limit_per_minute=10, auth_failures_per_minute=5) as c:
        attack = [c.get("/map/embed", headers={"Authorization": f"Bearer {wrong}",
                                               "X-Test-Client": ATTACKER}).status_code
                  for _ in range(25)]
        owner = [c.get("/map/embed", headers={"Authorization": f"Bearer {real}",
                                              "X-Test-Client": OWNER}).status_code
                 for _ in range(11)]
    assert 401 in attack and attack[-1] == 429
    # the real key still has its whole budget (10 a minute), then is limited as before
    assert owner == [200] * 10 + [429]


def test_failures_do_not_limit_good_requests_from_other_addresses(empty_db, db_settings):
    _, real = keys.create_key(empty_db, "viewer")
    with _client(db_settings, auth_failures_per_minute=3) as c:
        for _ in range(5):
            c.get("/map/labels", headers={"X-Test-Client": ATTACKER})  # 401: no key
        blocked = c.get("/map/labels", headers={"Authorization": f"Bearer {real}",
                                                "X-Test-Client": ATTACKER})
        fine = c.get("/map/labels", headers={"Authorization": f"Bearer {real}",
                                             "X-Test-Client": OWNER})
        probe = c.get("/healthz", headers={"X-Test-Client": ATTACKER})
    assert blocked.status_code == 429  # the address is slowed down, whatever it sends
    assert fine.status_code == 200
    assert probe.status_code == 200

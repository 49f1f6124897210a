"""Keys, roles and privacy over HTTP, against the real database.

Probe routes are added to a real app under paths the policy covers, so these
tests pin the middleware itself; ``test_auth_acceptance.py`` checks the real
routers end to end.
"""

from __future__ import annotations

import time

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.auth import current_actor, current_role
from api.settings import ApiSettings
from api.state import AppState
from geo import keys
from geo.settings import DatabaseSettings


def _probe_router() -> APIRouter:
    r = APIRouter()

    def who(request: Request) -> JSONResponse:
        return JSONResponse({"role": current_role(request), "actor": current_actor(request)},
                            headers={"Cache-Control": "public, max-age=60"})

    r.add_api_route("/api/v1/cases/_probe/x", who, methods=["GET"])
    r.add_api_route("/api/v1/grid-plans/_probe/x/edits", who, methods=["POST"])
    r.add_api_route("/ogc/collections/{c}/items/_probe/x", who, methods=["GET"])
    r.add_api_route("/tiles/{layer}/_probe/x", who, methods=["GET"])
    r.add_api_route("/unpoliced/_probe", who, methods=["GET"])
    return r


@pytest.fixture()
def make_client(db_settings: DatabaseSettings):
    """Build a client on a fresh app: ``make_client(host=..., db=..., **api_settings)``."""
    made = []

    def make(host: str = "127.0.0.1", db: DatabaseSettings | None = None, **api) -> TestClient:
        state = AppState.build(api=ApiSettings(_env_file=None, host=host, **api),
                               db=db or db_settings)
        app = create_app(state)
        app.include_router(_probe_router())
        client = TestClient(app)
        client.__enter__()
        made.append(client)
        return client

    yield make
    for c in made:
        c.__exit__(None, None, None)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_open_mode_on_loopback_without_keys(empty_db, make_client):
    c = make_client()
    r = c.get("/api/v1/cases/_probe/x")
    assert r.status_code == 200
    assert r.json() == {"role": "admin", "actor": "local"}
    # Open mode answers for one local user: no private marking is forced on it.
    assert r.headers["cache-control"] == "public, max-age=60"


def test_key_needed_on_loopback_once_a_key_exists(empty_db, make_client):
    _, secret = keys.create_key(empty_db, "viewer", "dashboard")
    c = make_client()
    r = c.get("/api/v1/cases/_probe/x")
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"
    assert "missing API key" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = c.get("/api/v1/cases/_probe/x", headers=bearer(secret))
    assert r.status_code == 200
    key_id = keys.parse_key(secret)[0]
    assert r.json() == {"role": "viewer", "actor": f"key:{key_id} (dashboard)"}


def test_non_loopback_app_without_key_gets_401(empty_db, make_client):
    _, secret = keys.create_key(empty_db, "admin")
    c = make_client(host="0.0.0.0")
    r = c.get("/api/v1/cases/_probe/x")
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"
    assert c.get("/api/v1/cases/_probe/x", headers=bearer(secret)).status_code == 200
    # Probes stay public.
    assert c.get("/healthz").status_code == 200


def test_non_loopback_app_refuses_to_start_without_keys(empty_db, db_settings):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None, host="0.0.0.0"),
                                    db=db_settings))
    with pytest.raises(Exception, match="refusing to listen on 0.0.0.0 without API keys"):
        with TestClient(app):
            pass


def test_remote_client_is_never_open(empty_db, db_settings):
    """Loopback-configured but reached from a remote address (a proxy, a wrong bind): 401."""
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    app.include_router(_probe_router())
    with TestClient(app, client=("10.1.2.3", 5555)) as c:
        assert c.get("/api/v1/cases/_probe/x").status_code == 401
    with TestClient(app, client=("127.0.0.1", 5555)) as c:
        assert c.get("/api/v1/cases/_probe/x").status_code == 200


@pytest.mark.parametrize("token", [
    "nonsense",
    "om_0123456789ab_" + "x" * 43,  # well formed, unknown id
    "Basic dXNlcjpwYXNz",
])
def test_bad_keys_get_401(empty_db, make_client, token):
    keys.create_key(empty_db, "admin")
    c = make_client()
    r = c.get("/api/v1/cases/_probe/x", headers={"Authorization": token})
    assert r.status_code == 401
    assert r.json() == {"detail": "invalid or revoked API key", "code": "unauthorized"}


def test_wrong_secret_for_a_real_key_id_gets_401(empty_db, make_client):
    _, secret = keys.create_key(empty_db, "admin")
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    c = make_client()
    assert c.get("/api/v1/cases/_probe/x", headers=bearer(forged)).status_code == 401
    assert c.get("/api/v1/cases/_probe/x", headers=bearer(secret)).status_code == 200


def test_revoked_key_stops_working_at_once(empty_db, make_client):
    key, secret = keys.create_key(empty_db, "planner")
    keys.create_key(empty_db, "admin")  # another key stays, so no fallback to open mode
    c = make_client()
    assert c.post("/api/v1/grid-plans/_probe/x/edits", headers=bearer(secret)).status_code == 200
    keys.revoke_key(empty_db, key.key_id)
    r = c.post("/api/v1/grid-plans/_probe/x/edits", headers=bearer(secret))
    assert r.status_code == 401
    assert r.json()["detail"] == "invalid or revoked API key"


def test_roles_follow_the_policy(empty_db, make_client):
    secrets_ = {role: keys.create_key(empty_db, role)[1] for role in keys.ROLES}
    c = make_client()
    edit = {role: c.post("/api/v1/grid-plans/_probe/x/edits", headers=bearer(s)).status_code
            for role, s in secrets_.items()}
    assert edit == {"admin": 200, "planner": 200, "viewer": 403, "widget": 403}
    raw = {role: c.get("/api/v1/cases/_probe/x", headers=bearer(s)).status_code
           for role, s in secrets_.items()}
    assert raw == {"admin": 200, "planner": 200, "viewer": 200, "widget": 403}
    r = c.get("/api/v1/cases/_probe/x", headers=bearer(secrets_["widget"]))
    assert r.json()["code"] == "forbidden"
    assert "role widget may not" in r.json()["detail"]


def test_widget_is_kept_off_sensitive_layers(empty_db, make_client):
    _, widget = keys.create_key(empty_db, "widget")
    c = make_client(widget_cameras="coarsen")
    h = bearer(widget)
    # cameras reach a coarsening widget as counts in the tiles only (geo.widget), as the
    # OGC router always answered; the policy used to let them through to it
    for c_name in ("incidents", "camera_views", "coverage_gaps", "cameras"):
        r = c.get(f"/ogc/collections/{c_name}/items/_probe/x", headers=h)
        assert r.status_code == 403, c_name
    for c_name in ("roads", "grids", "admin_areas", "places"):
        assert c.get(f"/ogc/collections/{c_name}/items/_probe/x", headers=h).status_code == 200
    assert c.get("/tiles/incidents/_probe/x", headers=h).status_code == 200  # aggregated there
    assert c.get("/tiles/cameras/_probe/x", headers=h).status_code == 200  # coarsened there
    assert c.get("/tiles/camera_views/_probe/x", headers=h).status_code == 403
    assert c.get("/tiles/roads,coverage_gaps/_probe/x", headers=h).status_code == 403
    assert c.get("/tiles/roads,incidents/_probe/x", headers=h).status_code == 200
    hidden = make_client(widget_cameras="hide")
    assert hidden.get("/tiles/cameras/_probe/x", headers=h).status_code == 403
    assert hidden.get("/ogc/collections/cameras/items/_probe/x", headers=h).status_code == 403
    shown = make_client(widget_cameras="show")
    assert shown.get("/ogc/collections/cameras/items/_probe/x", headers=h).status_code == 200
    assert shown.get("/ogc/collections/incidents/items/_probe/x", headers=h).status_code == 403


def test_keyed_responses_are_private(empty_db, make_client):
    _, secret = keys.create_key(empty_db, "viewer")
    c = make_client()
    r = c.get("/api/v1/cases/_probe/x", headers=bearer(secret))
    assert r.headers["cache-control"] == "private, max-age=60"
    assert "Authorization" in r.headers["vary"]


def test_route_without_policy_is_refused(empty_db, make_client):
    c = make_client()
    r = c.get("/unpoliced/_probe")
    assert r.status_code == 403
    assert r.json() == {"detail": "no access policy for GET /unpoliced/_probe",
                        "code": "forbidden"}


def test_access_token_query_parameter_for_reads_only(empty_db, make_client):
    _, secret = keys.create_key(empty_db, "admin")
    c = make_client()
    assert c.get(f"/api/v1/cases/_probe/x?access_token={secret}").status_code == 200
    assert c.post(f"/api/v1/grid-plans/_probe/x/edits?access_token={secret}").status_code == 401


def test_writes_are_audited_with_the_actor(empty_db, make_client):
    key, secret = keys.create_key(empty_db, "planner", "ops")
    c = make_client()
    assert c.post("/api/v1/grid-plans/_probe/x/edits", headers=bearer(secret)).status_code == 200
    c.get("/ogc/collections/roads/items/_probe/x", headers=bearer(secret))
    with empty_db.connect() as conn:
        rows = conn.execute(text("SELECT actor, action, target, detail FROM audit_log ORDER BY id"))
        rows = rows.all()
    assert [(r.actor, r.action, r.target) for r in rows] == [
        (f"key:{key.key_id} (ops)", "POST /api/v1/grid-plans/_probe/x/edits",
         "/api/v1/grid-plans/_probe/x/edits"),
        (f"key:{key.key_id} (ops)", "export GET /ogc/collections/{c}/items/_probe/x",
         "/ogc/collections/roads/items/_probe/x"),
    ]
    assert rows[0].detail["role"] == "planner"
    assert rows[0].detail["status"] == 200


def test_refused_requests_write_no_audit(empty_db, make_client):
    _, secret = keys.create_key(empty_db, "viewer")
    c = make_client()
    assert c.post("/api/v1/grid-plans/_probe/x/edits", headers=bearer(secret)).status_code == 403
    with empty_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 0


def test_database_down_gives_503_fast_and_probes_still_answer(make_client):
    dead = DatabaseSettings(_env_file=None, database_url="postgresql://u:p@127.0.0.1:9/none")
    c = make_client(db=dead)
    t0 = time.monotonic()
    r = c.get("/api/v1/cases/_probe/x")
    assert time.monotonic() - t0 < 6
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert r.json()["code"] == "database_unavailable"
    assert c.get("/healthz").status_code == 200
    assert c.get("/readyz").status_code == 503

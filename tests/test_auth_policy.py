"""Every route of the app declares who may call it; the role matrix of the contract."""

from __future__ import annotations

import pytest

from api.app import create_app
from api.auth import route_table
from api.policy import POLICY, rule_for
from api.settings import ApiSettings
from api.state import AppState
from geo.settings import DatabaseSettings


@pytest.fixture(scope="module")
def app():
    db = DatabaseSettings(_env_file=None, database_url="postgresql://u:p@127.0.0.1:9/unused")
    return create_app(AppState.build(api=ApiSettings(_env_file=None), db=db))


def test_every_route_has_a_policy(app):
    missing = []
    table = route_table(app.router.routes)
    assert len(table) > 5
    for _, methods, template in table:
        for method in sorted(methods or {"GET"}):
            if method in ("HEAD", "OPTIONS"):
                continue
            if rule_for(method, template) is None:
                missing.append(f"{method} {template}")
    assert not missing, f"routes without an access rule in api/policy.py: {missing}"


def test_every_policy_rule_decides_some_route(app):
    deciding = {rule_for(method, template)
                for _, methods, template in route_table(app.router.routes)
                for method in (methods or {"GET"})}
    unused = [f"{sorted(rule.methods)} {rule.pattern}" for rule in POLICY if rule not in deciding]
    assert not unused, f"rules in api/policy.py that no route of the app reaches: {unused}"


EVERYONE = {"admin", "planner", "viewer", "widget"}
READERS = {"admin", "planner", "viewer"}


@pytest.mark.parametrize("method, template, roles", [
    ("GET", "/tiles/{layer}/{z}/{x}/{y}.pbf", EVERYONE),
    ("GET", "/tiles/{layer}/tilejson.json", EVERYONE),
    ("GET", "/ogc/collections/{c}/items", EVERYONE),
    ("GET", "/map/embed", EVERYONE),
    ("PATCH", "/api/v1/incidents/{source}/{external_id}", {"admin", "planner"}),
    ("POST", "/api/v1/incidents", {"admin"}),
    ("GET", "/api/v1/hotspots", READERS),
    ("GET", "/api/v1/heatmap", READERS),
    ("GET", "/api/v1/coverage/gaps", READERS),
    ("POST", "/api/v1/coverage/siting", {"admin", "planner"}),
    ("GET", "/api/v1/grid-plans/{id}", READERS),
    ("POST", "/api/v1/grid-plans/{id}/edits", {"admin", "planner"}),
    ("POST", "/api/v1/grid-plans/{id}/publish", {"admin", "planner"}),
    ("GET", "/api/v1/jobs/{job}", {"admin", "planner"}),
    ("GET", "/api/v1/cameras/{id}", READERS),
    ("PUT", "/api/v1/cameras/{id}", {"admin"}),
    ("DELETE", "/api/v1/cameras/{id}", {"admin"}),
    ("GET", "/metrics", {"admin"}),
])
def test_role_matrix(method, template, roles):
    rule = rule_for(method, template)
    assert rule is not None and set(rule.roles) == roles


@pytest.mark.parametrize("template", ["/healthz", "/readyz", "/openapi.json", "/docs"])
def test_probes_and_schema_are_public(template):
    assert rule_for("GET", template).public


def test_unknown_areas_are_refused():
    assert rule_for("GET", "/api/v2/anything") is None
    assert rule_for("GET", "/api/v1/incidents") is None  # raw incidents have no list route
    assert rule_for("DELETE", "/tiles/{layer}/{z}/{x}/{y}.pbf") is None
    assert rule_for("POST", "/ogc/collections/{c}/items") is None

"""The OpenAPI document describes the errors the service returns.

Before: every route documented a 422 whose ``detail`` is an array
(``HTTPValidationError``) while the service answers ``{"detail": str, "code": str}``,
and statuses such as 400/401/403/404/429/503 were undocumented.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState


@pytest.fixture(scope="module")
def client(db_settings):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        yield c


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_one_error_model_for_every_error_status(client):
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["Error"]["properties"]["detail"]["type"] == "string"
    for path, method, op in _operations(doc):
        for must in ("401", "403", "429", "503"):
            assert must in op["responses"], (path, method, must)
        for status, resp in op["responses"].items():
            if status.isdigit() and int(status) >= 400:
                schema = resp["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)


@pytest.mark.parametrize("method, path, kwargs, status", [
    ("GET", "/api/v1/coverage/gaps?limit=0", {}, 422),
    ("POST", "/api/v1/coverage/siting", {"json": {"k": 0}}, 422),
    ("POST", "/api/v1/coverage/siting", {"json": {"k": 1, "candidates": [
        {"lon": 1, "lat": 1, "tilt": False}]}}, 422),
    ("GET", "/api/v1/hotspots?bbox=1,2,3", {}, 400),
])
def test_error_bodies_match_the_documented_schema(client, method, path, kwargs, status):
    doc = client.get("/openapi.json").json()
    r = client.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    op = doc["paths"][path.split("?")[0]][method.lower()]
    assert str(status) in op["responses"]
    error = doc["components"]["schemas"]["Error"]
    body = r.json()
    assert set(body) == set(error["required"]) == set(error["properties"])
    assert all(isinstance(body[k], str) for k in body), body


def test_405_lists_every_method_of_the_path(client):
    r = client.request("PATCH", "/api/v1/cameras")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) >= {"GET", "POST"}

"""Every JSON answer is described in the OpenAPI document.

Before: most routes sent orjson ``Response`` objects or plain dicts, so
``/openapi.json`` said ``{}`` (anything) or "an object" for their 200 bodies and
schemathesis had nothing to check a body against. Now each route names a model
from ``api.models``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState

JSON_TYPES = ("application/json", "application/geo+json")
SUCCESS = ("200", "201", "202")


@pytest.fixture(scope="module")
def doc(db_settings):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as client:
        return client.get("/openapi.json").json()


def _resolve(doc: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    assert name in doc["components"]["schemas"], ref
    return doc["components"]["schemas"][name]


def _json_successes(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status in SUCCESS:
                content = op["responses"].get(status, {}).get("content", {})
                for media in JSON_TYPES:
                    if media in content:
                        yield f"{method.upper()} {path} {status} {media}", content[media]


def test_every_json_answer_has_a_schema(doc):
    described = dict(_json_successes(doc))
    assert len(described) >= 80  # ~45 JSON routes, each as json and geo+json
    empty = [where for where, media in described.items()
             if not _resolve(doc, media.get("schema") or {})]
    assert not empty, empty


def test_object_answers_name_their_members(doc):
    """A documented object lists its members: no bare ``{"type": "object"}``."""
    bare = []
    for where, media in _json_successes(doc):
        schema = _resolve(doc, media["schema"])
        for part in schema.get("anyOf", [schema]):
            part = _resolve(doc, part)
            if part.get("type") == "array":
                part = _resolve(doc, part.get("items") or {})
            if part.get("type") == "object" and not part.get("properties"):
                bare.append(where)
    assert not bare, bare


@pytest.mark.parametrize("name, members", [
    ("FeatureCollection", {"type", "features"}),
    ("CameraCollection", {"type", "features", "numberMatched", "numberReturned"}),
    ("HotspotCollection", {"type", "features", "parameters", "summary"}),
    ("Evaluation", {"plan", "version", "summary", "infeasible"}),
    ("CaseSummary", {"level", "units", "window", "at"}),
    ("ReachSummary", {"level", "mode", "minutes", "units", "unreached"}),
    ("TileJson", {"tilejson", "tiles", "vector_layers"}),
])
def test_models_require_what_every_answer_holds(doc, name, members):
    schema = doc["components"]["schemas"][name]
    assert members <= set(schema["required"]), schema["required"]


def test_validating_an_answer_leaves_its_json_as_it_was():
    """Key order, extra keys, keys left out and whole numbers survive ``response_model``."""
    import orjson
    from pydantic import TypeAdapter

    from api.models.grid_plans import PlanDiff

    body = {"b": 2, "a": 1, "added": [], "removed": [], "changed": [], "unchanged": 0,
            "note": None, "buildings_moved": 0, "households_moved": 3, "moves": [],
            "moves_truncated": False,
            "layer": {"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": {"n": 1.0},
                 "geometry": {"type": "GeometryCollection", "geometries": []}}]}}
    adapter = TypeAdapter(PlanDiff)
    out = adapter.dump_python(adapter.validate_python(body), mode="json", by_alias=True,
                              exclude_unset=True)
    assert orjson.dumps(out) == orjson.dumps(body)

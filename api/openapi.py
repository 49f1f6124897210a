"""The OpenAPI document describes what the service answers.

FastAPI documents a 422 ``HTTPValidationError`` (``detail`` as a list) on every route,
but every error here is ``{"detail": str, "code": str}`` (``api.errors``), and routes
answer statuses FastAPI cannot see (auth, rate limit, domain errors, a database
that is down). :func:`install` replaces the generated document with one that:

* defines one ``Error`` schema and drops ``HTTPValidationError``/``ValidationError``;
* documents, on every operation, the statuses it can answer with an ``Error`` body:
  401/403/404/429/503 everywhere (keys, roles, data the route needs, rate limit,
  database), 400/422 where there are parameters or a body, 413 with a body, 409 on
  writes, 412 where ``If-Match`` is read; plus what a route declares itself;
* lets JSON answers be ``application/geo+json`` too (GeoJSON routes send that type).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["detail", "code"],
    "properties": {
        "detail": {"type": "string", "description": "what is wrong, for people"},
        "code": {"type": "string", "description": "stable machine-readable name"},
    },
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
WHY = {
    400: "invalid parameter or body (``code`` names the kind)",
    401: "missing or unknown API key",
    403: "the key's role may not do this",
    404: "not found",
    405: "method not allowed",
    409: "conflicts with the current state",
    412: "stale If-Match version",
    413: "request body or analysis too large",
    415: "unsupported content type",
    422: "parameters or body fail validation",
    428: "If-Match required",
    429: "rate limit exceeded",
    503: "database unavailable (Retry-After)",
}
WRITES = {"post", "put", "patch", "delete"}


def _error(status: int) -> dict:
    return {"description": WHY.get(status, "error"),
            "content": {"application/json": {"schema": ERROR_REF}}}


def _statuses(method: str, op: dict) -> set[int]:
    params = op.get("parameters", [])
    out = {401, 403, 404, 429, 503}
    if params or "requestBody" in op:
        out |= {400, 422}
    if any(p.get("in") == "path" for p in params):
        out.add(404)
    if "requestBody" in op or method in WRITES:
        out |= {400, 413, 422}
    if method in WRITES:
        out |= {404, 409}
    if any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in params):
        out.add(412)
    return out


def describe(doc: dict[str, Any]) -> dict[str, Any]:
    """The generated document with the one error model and every status documented."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    for item in doc.get("paths", {}).values():
        for method, op in item.items():
            if method not in {"get", "put", "post", "delete", "patch", "head", "options"}:
                continue
            responses = op.setdefault("responses", {})
            for status in _statuses(method, op):
                responses.setdefault(str(status), _error(status))
            for status, resp in responses.items():
                content = resp.get("content", {})
                if status.startswith("2") and "application/json" in content:
                    content.setdefault("application/geo+json", content["application/json"])
                if status.isdigit() and int(status) >= 400:
                    resp["content"] = {"application/json": {"schema": ERROR_REF}}
                    resp.setdefault("description", WHY.get(int(status), "error"))
    return doc


def install(app: FastAPI) -> None:
    """Serve :func:`describe`'s document as the app's OpenAPI."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(get_openapi(
                title=app.title, version=app.version, summary=app.summary,
                description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the document offers on ``path`` (the ``Allow`` of a 405)."""
    table = getattr(app.state, "openapi_paths", None)
    if table is None:
        table = []
        for template, item in app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            table.append((re.compile(f"^{pattern}$"), sorted(m.upper() for m in item)))
        app.state.openapi_paths = table
    out: set[str] = set()
    for regex, methods in table:
        if regex.match(path):
            out.update(methods)
    return sorted(out)

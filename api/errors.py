"""Domain errors → HTTP status codes, in one table, with one handler per class.

Every error response is JSON ``{"detail": "...", "code": "..."}``.
"""

from __future__ import annotations

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.responses import OrjsonResponse
from geo import errors as geo_errors

STATUS: dict[type[geo_errors.OnemapError], int] = {
    geo_errors.OnemapError: 400,
    geo_errors.InvalidInput: 400,
    geo_errors.InvalidGeometry: 422,
    geo_errors.OutsideServiceArea: 422,
    geo_errors.UnknownLayer: 404,
    geo_errors.FileFormatError: 400,
    geo_errors.InvalidRows: 422,
    geo_errors.NotFound: 404,
    geo_errors.Conflict: 409,
    geo_errors.PlanConflict: 412,
    geo_errors.Infeasible: 422,
    geo_errors.NotEnoughData: 422,
    geo_errors.DatabaseUnavailable: 503,
    geo_errors.ClusterError: 503,
}

RETRY_AFTER_S = "5"

#: Driver exceptions that mean the database cannot answer now (→ 503 database_unavailable):
#: refused or cut connections, and a connect that timed out (asyncpg raises TimeoutError).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError, ConnectionError,
    TimeoutError)


def unavailable_body() -> bytes:
    """The JSON body of a 503 database_unavailable answer (for raw ASGI senders)."""
    return orjson.dumps({"detail": "database unavailable, retry later",
                         "code": "database_unavailable"})


def error_response(status: int, detail: str, code: str,
                   headers: dict | None = None) -> OrjsonResponse:
    """The one shape of every error."""
    return OrjsonResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def _status_for(exc: geo_errors.OnemapError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def _domain(_: Request, exc: geo_errors.OnemapError) -> OrjsonResponse:
    status = _status_for(exc)
    headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else None
    return error_response(status, exc.detail, exc.code, headers)


async def _validation(_: Request, exc: RequestValidationError) -> OrjsonResponse:
    parts = []
    for err in exc.errors()[:5]:
        if err.get("type") == "json_invalid":  # say so plainly, with where it broke
            why = (err.get("ctx") or {}).get("error", "syntax error")
            at = err.get("loc", ("body", "?"))[-1]
            return error_response(400, f"request body is not valid JSON: {why} (at character "
                                  f"{at})", "invalid_json")
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return error_response(422, "; ".join(parts) or "invalid request", "invalid_parameter")


async def _http(request: Request, exc: StarletteHTTPException) -> OrjsonResponse:
    code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            413: "body_too_large", 429: "rate_limited"}.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        from api.openapi import allowed_methods

        allowed = allowed_methods(request.app, request.url.path)
        if allowed:
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
    return error_response(exc.status_code, detail, code, headers)


async def _db_unavailable(_: Request, exc: Exception) -> OrjsonResponse:
    return error_response(
        503, "database unavailable, retry later", "database_unavailable",
        {"Retry-After": RETRY_AFTER_S}
    )


async def _db_error(request: Request, exc: DBAPIError) -> OrjsonResponse:
    if exc.connection_invalidated or isinstance(exc, OperationalError):
        return await _db_unavailable(request, exc)
    raise exc


def install(app: FastAPI) -> None:
    """Install the handlers on an app."""
    for cls in STATUS:
        app.add_exception_handler(cls, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DBAPIError, _db_error)
    for cls in UNAVAILABLE:
        app.add_exception_handler(cls, _db_unavailable)

"""Vector tiles: ``/tiles/{layers}/{z}/{x}/{y}.pbf`` and ``/tiles/{layers}/tilejson.json``.

``layers`` is one layer or a comma-separated list (one composite tile). Responses
carry a weak ETag; ``If-None-Match`` is answered from memory with 304. Tiles are
cached gzipped and sent gzipped to clients that accept it (the app's GZip
middleware leaves responses that already have a ``Content-Encoding`` alone).

:func:`answer` is shared by the FastAPI route and :class:`TileFastPath`, an ASGI
middleware placed inside the security middleware that answers well-formed tile
requests without FastAPI routing and dependency resolution; anything else (the
first request, bad input) goes on to the route, which gives the proper error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from api.auth import current_role
from api.deps import MetricsDep, TilesDep
from api.errors import RETRY_AFTER_S, UNAVAILABLE, unavailable_body
from api.models.base import documented
from api.models.tiles import TileJson
from api.secrets import redact_query
from geo.errors import DatabaseUnavailable, OnemapError
from tiles.cache import Tile
from tiles.render import TileTimeout
from tiles.service import TileRequest, TileService
from tiles.tilejson import tilejson

MVT = "application/vnd.mapbox-vector-tile"
Disconnected = Callable[[], Awaitable[None]]
_DISCONNECT_POLL_S = 0.25
_WATCH_AFTER_S = 0.05


router = APIRouter(tags=["tiles"])


@dataclass
class Answer:
    """What to send back, and how the tile was obtained (for metrics)."""

    status: int
    headers: dict[str, str]
    body: bytes
    outcome: str


class ClientGone(Exception):
    """The client disconnected before the tile was ready."""


def etag_matches(header: str | None, etag: str) -> bool:
    """Weak comparison of ``If-None-Match`` against our ETag."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


async def render_or_cancel(work: Awaitable[tuple[Tile, str]],
                           disconnected: Disconnected) -> tuple[Tile, str]:
    """Await the render; if the client leaves first, cancel it (and its query).

    Most tiles are ready in a few milliseconds, so the disconnect watcher only
    starts once the render has taken longer than ``_WATCH_AFTER_S``.
    """
    task = asyncio.ensure_future(work)
    gone = False
    watcher: asyncio.Task | None = None

    async def watch() -> None:
        nonlocal gone
        await disconnected()
        gone = True
        task.cancel()

    def start_watching() -> None:
        nonlocal watcher
        if not task.done():
            watcher = asyncio.ensure_future(watch())

    timer = asyncio.get_running_loop().call_later(_WATCH_AFTER_S, start_watching)
    try:
        return await task
    except asyncio.CancelledError:
        if gone:
            raise ClientGone from None
        raise
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()


async def answer(service: TileService, req: TileRequest, if_none_match: str | None,
                 accepts_gzip: bool, disconnected: Disconnected, metrics) -> Answer:
    """Answer one validated tile request and record its metrics."""
    t0 = time.perf_counter()
    etag = service.etag(req)
    headers = {"ETag": etag, "Cache-Control": service.cache_control(req),
               "Vary": "Accept-Encoding"}
    if etag_matches(if_none_match, etag):
        metrics.observe_tile(req.name, "not_modified", time.perf_counter() - t0, 0)
        return Answer(304, headers, b"", "not_modified")
    tile = service.cached(etag)
    outcome = "hit"
    if tile is None:
        try:
            tile, outcome = await render_or_cancel(service.tile(req, etag), disconnected)
        except TileTimeout as exc:
            metrics.tile_errors.labels(req.name, exc.code).inc()
            body = orjson.dumps({"detail": exc.detail, "code": exc.code})
            return Answer(504, {"Content-Type": "application/json"}, body, "timeout")
        except ClientGone:
            metrics.observe_tile(req.name, "cancelled", time.perf_counter() - t0, 0)
            return Answer(499, {}, b"", "cancelled")
        except (DatabaseUnavailable, *UNAVAILABLE):
            metrics.tile_errors.labels(req.name, "database_unavailable").inc()
            return Answer(503, {"Content-Type": "application/json", "Retry-After": RETRY_AFTER_S},
                          unavailable_body(), "unavailable")
    body = tile.data
    if body and accepts_gzip:
        if tile.gz is None:
            tile.gzipped(service.settings.tile_gzip_level)
            service.cache.resize(etag)
        body = tile.gz
        headers["Content-Encoding"] = "gzip"
    headers["Content-Type"] = MVT
    metrics.observe_tile(req.name, outcome, time.perf_counter() - t0, len(tile.data))
    return Answer(200, headers, body, outcome)


class TileFastPath:
    """ASGI middleware answering ``GET /tiles/{layers}/{z}/{x}/{y}.pbf`` directly.

    Install it inside the security middleware (so keys, roles, the access
    policy and rate limits still apply) and outside FastAPI's router.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:  # noqa: D102
        if scope["type"] != "http" or scope["method"] != "GET" \
                or not scope["path"].startswith("/tiles/"):
            return await self.app(scope, receive, send)
        parsed = self._parse(scope)
        if parsed is None:
            return await self.app(scope, receive, send)
        service, req, inm, gz = parsed
        app = scope["app"]

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        ans = await answer(service, req, inm, gz, disconnected, app.state.onemap.metrics)
        if ans.status == 499:
            return
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in ans.headers.items()]
        if ans.status != 304:
            raw.append((b"content-length", str(len(ans.body)).encode()))
        await send({"type": "http.response.start", "status": ans.status, "headers": raw})
        await send({"type": "http.response.body", "body": ans.body})

    @staticmethod
    def _parse(scope) -> tuple[TileService, TileRequest, str | None, bool] | None:
        app = scope.get("app")
        state = getattr(getattr(app, "state", None), "onemap", None)
        if state is None or not state.tiles.versions.started:
            return None
        service = state.tiles
        parts = scope["path"].split("/")
        if len(parts) != 6 or not parts[5].endswith(".pbf"):
            return None
        try:
            z, x, y = int(parts[3]), int(parts[4]), int(parts[5][:-4])
            query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
            role = scope.get("state", {}).get("role", "admin")
            req = service.request(parts[2], z, x, y, query, role)
        except (ValueError, OnemapError):
            return None  # the route answers with the proper error
        inm, gz = None, False
        for key, value in scope["headers"]:
            if key == b"if-none-match":
                inm = value.decode("latin-1")
            elif key == b"accept-encoding":
                gz = b"gzip" in value
        return service, req, inm, gz


@router.get(
    "/tiles/{layers}/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses={200: {"content": {MVT: {}}, "description": "Mapbox Vector Tile"},
               304: {"description": "Not modified (If-None-Match matched the ETag)"}},
)
async def get_tile(
    request: Request,
    service: TilesDep,
    metrics: MetricsDep,
    layers: str = Path(description="layer, or comma-separated layers for one composite tile"),
    z: int = Path(description="zoom 0..24"),
    x: int = Path(description="column 0..2^z-1"),
    y: int = Path(description="row 0..2^z-1 (XYZ, north first)"),
    from_: str | None = Query(None, alias="from", description="ISO time, -P30D style or 'now'"),
    to: str | None = Query(None, description="ISO time, -PT1H style or 'now' (exclusive)"),
    category: str | None = Query(None, description="comma-separated incident categories"),
    source: str | None = Query(None, description="comma-separated incident sources"),
    plan: int | None = Query(None, description="grid plan id (grids; default: the active plan)"),
) -> Response:
    """One MVT tile of one or more layers (incidents and hotspots take the filters)."""
    req = service.request(layers, z, x, y, request.query_params, current_role(request))

    async def disconnected() -> None:
        while not await request.is_disconnected():
            await asyncio.sleep(_DISCONNECT_POLL_S)

    ans = await answer(service, req, request.headers.get("if-none-match"),
                       "gzip" in request.headers.get("accept-encoding", ""), disconnected,
                       metrics)
    media = ans.headers.pop("Content-Type", None)
    return Response(ans.body, status_code=ans.status, headers=ans.headers, media_type=media)


@router.get("/tiles/{layers}/tilejson.json", response_class=Response,
            responses=documented(TileJson, "TileJSON 3.0.0"))
async def get_tilejson(
    request: Request,
    service: TilesDep,
    layers: str = Path(description="layer, or comma-separated layers"),
) -> Response:
    """TileJSON 3.0.0 of one or more layers; query filters are carried into the tile URL."""
    role = current_role(request)
    req = service.request(layers, 0, 0, 0, request.query_params, role)
    bounds = [await service.bounds(layer, role) for layer in req.layers]
    base = str(request.base_url).rstrip("/")
    query = redact_query(request.scope.get("query_string", b"").decode("latin-1"), drop=True)
    url = f"{base}/tiles/{req.name}/{{z}}/{{x}}/{{y}}.pbf" + (f"?{query}" if query else "")
    doc = tilejson(req.layers, url, bounds, service.settings)
    return Response(orjson.dumps(doc), media_type="application/json",
                    headers={"Cache-Control": service.cache_control(req)})

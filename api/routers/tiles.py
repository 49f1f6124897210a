"""Vector tiles: ``/tiles/{layers}/{z}/{x}/{y}.pbf`` and ``/tiles/{layers}/tilejson.json``.

``layers`` is one layer or a comma-separated list (one composite tile). Responses
carry a weak ETag; ``If-None-Match`` is answered from memory with 304. Tiles are
cached gzipped and sent gzipped to clients that accept it (the app's GZip
middleware leaves responses that already have a ``Content-Encoding`` alone).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import orjson
from fastapi import APIRouter, FastAPI, Path, Query, Request, Response

from api.auth import current_role
from api.errors import error_response
from api.metrics import metrics
from geo.db.urls import libpq_url
from tiles.cache import Tile
from tiles.render import Policy, TileTimeout
from tiles.service import TileRequest, TileService
from tiles.settings import TileSettings
from tiles.tilejson import tilejson

MVT = "application/vnd.mapbox-vector-tile"
_DISCONNECT_POLL_S = 0.25


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    service = getattr(app.state, "tiles", None)
    if service is not None:
        app.state.tiles = None
        await service.close()


router = APIRouter(tags=["tiles"], lifespan=_lifespan)


def _build(app: FastAPI) -> TileService:
    state = app.state.onemap
    settings = TileSettings()
    m = metrics(app)
    policy = Policy(state.api.widget_min_count, state.api.widget_cameras,
                    settings.tile_widget_camera_cell)
    from tiles.hotspots import hotspot_source

    service = TileService(settings, state.pool, libpq_url(state.db), policy,
                          hotspots=hotspot_source(state.engine), observer=m.observe_render)
    m.cache_bytes.set_function(lambda: service.cache.nbytes)
    m.cache_entries.set_function(lambda: len(service.cache))
    return service


async def tile_service(request: Request) -> TileService:
    """The app's tile service, built and started on first use."""
    app = request.app
    service = getattr(app.state, "tiles", None)
    if service is None:
        service = _build(app)
        app.state.tiles = service
    if not service.versions.started:
        await service.start()
    return service


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


class _ClientGone(Exception):
    pass


async def _render_or_cancel(request: Request, service: TileService, req: TileRequest,
                            etag: str) -> tuple[Tile, str]:
    """Render, but cancel the work (and its query) when the client goes away."""
    work = asyncio.ensure_future(service.tile(req, etag))
    while True:
        done, _ = await asyncio.wait({work}, timeout=_DISCONNECT_POLL_S)
        if done:
            return work.result()
        if await request.is_disconnected():
            work.cancel()
            raise _ClientGone


@router.get(
    "/tiles/{layers}/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses={200: {"content": {MVT: {}}, "description": "Mapbox Vector Tile"},
               304: {"description": "Not modified (If-None-Match matched the ETag)"}},
)
async def get_tile(
    request: Request,
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
    t0 = time.perf_counter()
    service = await tile_service(request)
    req = service.request(layers, z, x, y, request.query_params, current_role(request))
    etag = service.etag(req)
    headers = {"ETag": etag, "Cache-Control": service.cache_control(req),
               "Vary": "Accept-Encoding"}
    observe = metrics(request.app).observe_tile
    if _matches(request.headers.get("if-none-match"), etag):
        observe(req.name, "not_modified", time.perf_counter() - t0, 0)
        return Response(status_code=304, headers=headers)
    tile = service.cached(etag)
    state = "hit"
    if tile is None:
        try:
            tile, state = await _render_or_cancel(request, service, req, etag)
        except TileTimeout as exc:
            metrics(request.app).tile_errors.labels(req.name, exc.code).inc()
            return error_response(504, exc.detail, exc.code)
        except _ClientGone:
            observe(req.name, "cancelled", time.perf_counter() - t0, 0)
            return Response(status_code=499)
    body = tile.data
    if body and "gzip" in request.headers.get("accept-encoding", ""):
        if tile.gz is None:
            tile.gzipped(service.settings.tile_gzip_level)
            service.cache.resize(etag)
        body = tile.gz
        headers["Content-Encoding"] = "gzip"
    observe(req.name, state, time.perf_counter() - t0, len(tile.data))
    return Response(body, media_type=MVT, headers=headers)


@router.get("/tiles/{layers}/tilejson.json", response_class=Response,
            responses={200: {"content": {"application/json": {}}, "description": "TileJSON 3.0.0"}})
async def get_tilejson(
    request: Request,
    layers: str = Path(description="layer, or comma-separated layers"),
) -> Response:
    """TileJSON 3.0.0 of one or more layers; query filters are carried into the tile URL."""
    service = await tile_service(request)
    req = service.request(layers, 0, 0, 0, request.query_params, current_role(request))
    bounds = [await service.bounds(layer) for layer in req.layers]
    base = str(request.base_url).rstrip("/")
    query = str(request.query_params)
    url = f"{base}/tiles/{req.name}/{{z}}/{{x}}/{{y}}.pbf" + (f"?{query}" if query else "")
    doc = tilejson(req.layers, url, bounds, service.settings)
    return Response(orjson.dumps(doc), media_type="application/json",
                    headers={"Cache-Control": service.cache_control(req)})

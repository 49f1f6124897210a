"""The FastAPI app factory. No app is built at import time."""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import import_module

from fastapi import Depends, FastAPI

from api import docs, errors, openapi
from api.params import query_text
from api.responses import OrjsonResponse
from api.routers import ROUTERS
from api.secrets import install_log_redaction
from api.state import AppState


def create_app(state: AppState | None = None) -> FastAPI:
    """Build the service around ``state`` (built from the environment when None)."""
    state = state or AppState.build()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.start()  # warm-ups in the background, the hung-database watch
        yield
        await state.close()

    app = FastAPI(
        title="onemap",
        summary="一张图 spatial governance service: grids, cameras, incidents on one map",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
        docs_url=None,  # served from this host by api.docs (no CDN, no web fonts)
        redoc_url=None,
        dependencies=[Depends(query_text)],
    )
    app.state.onemap = state
    install_log_redaction()  # no key in uvicorn's access log
    errors.install(app)
    docs.install(app)
    for path in ROUTERS:
        app.include_router(import_module(path).router)
    openapi.install(app)
    _install_middleware(app, state)
    return app


def _install_middleware(app: FastAPI, state: AppState) -> None:
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.middleware.gzip import GZipMiddleware

    from api import auth
    from api.routers.tiles import TileFastPath

    app.add_middleware(TileFastPath)  # innermost: cached/valid tiles skip FastAPI routing
    auth.install(app, state)  # keys, roles, body size, rate limit (inside CORS/GZip)
    if state.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=state.api.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
            expose_headers=["ETag"],
        )
    app.add_middleware(GZipMiddleware, minimum_size=1024)

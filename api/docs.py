"""``/docs`` (Swagger UI) and ``/redoc`` served from this host.

FastAPI's own pages load their scripts from a CDN, their favicon from
fastapi.tiangolo.com and ReDoc's fonts from Google. Here the same pages load
``swagger-ui-dist`` and ``redoc`` from ``/static/vendor`` (installed from npm by
``scripts/install-assets.sh``, pinned in ``api/map/package-lock.json``), like the
map page's assets, so the docs work offline and ask no outside host for anything.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
    swagger_ui_default_parameters,
)
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor"
# The browser itself refuses anything from another host (and sends no key in a Referer).
DOCS_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
        "connect-src 'self'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
# Swagger UI asks validator.swagger.io for a badge unless told not to.
SWAGGER_PARAMETERS = {**swagger_ui_default_parameters, "validatorUrl": None}


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _page(app: FastAPI, request: Request, build: Callable[..., HTMLResponse], kind: str,
          assets: dict[str, str], **options) -> HTMLResponse:
    """One docs page, with the headers that keep the browser on this host.

    ``assets`` maps each of ``build``'s URL arguments to its file under ``VENDOR``.
    """
    root = _root(request)
    urls = {argument: f"{root}{VENDOR}/{path}" for argument, path in assets.items()}
    page = build(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - {kind}",
                 **urls, **options)
    page.headers.update(DOCS_HEADERS)
    return page


def install(app: FastAPI) -> None:
    """Add ``/docs``, ``/docs/oauth2-redirect`` and ``/redoc`` (create the app with them off)."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return _page(app, request, get_swagger_ui_html, "Swagger UI", {
            "swagger_js_url": "swagger-ui/swagger-ui-bundle.js",
            "swagger_css_url": "swagger-ui/swagger-ui.css",
            "swagger_favicon_url": "swagger-ui/favicon-32x32.png",
        }, oauth2_redirect_url=f"{_root(request)}/docs/oauth2-redirect",
            swagger_ui_parameters=SWAGGER_PARAMETERS)

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return _page(app, request, get_redoc_html, "ReDoc", {
            "redoc_js_url": "redoc/redoc.standalone.js",
            "redoc_favicon_url": "swagger-ui/favicon-32x32.png",
        }, with_google_fonts=False)

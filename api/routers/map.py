"""The 一张图 page (``/map``) and its embeddable widget (``/map/embed``).

Also the small JSON the page reads for labels and its summary panel, and ``/static``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from api.auth import current_role
from api.deps import DashboardSettingsDep, GridSettingsDep, StateDep
from api.map import data
from api.map.config import DEFAULT_WINDOW_DAYS, EmbedRequest, PageConfig
from api.map.page import render_page
from api.models.map import AreaStats, Label, Record, Search, Trends, ViewCount
from api.params import LocalZoneDep
from api.state import AppState
from geo.dashboard.records import record
from geo.dashboard.search import search
from geo.dashboard.stats import area_stats
from geo.dashboard.trends import trends
from geo.dashboard.window import Window
from geo.widget import WIDGET

STATIC_DIR = Path(__file__).resolve().parent.parent / "map" / "static"

router = APIRouter(tags=["map"])


class CachedStatic(StaticFiles):
    """Static files with a cache lifetime (app files are versioned by ``?v=``)."""

    def file_response(self, *args, **kwargs) -> Response:  # noqa: D102
        response = super().file_response(*args, **kwargs)
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
        return response


router.mount("/static", CachedStatic(directory=STATIC_DIR, check_dir=False), name="static")


# The topic APIs of ARCHITECTURE.md §9–§10 the page shows as panels when the app serves them.
TOPIC_ROUTES: dict[str, tuple[str, ...]] = {
    "response": ("/api/v1/response/areas", "/api/v1/response/summary"),
    "cases": ("/api/v1/cases/warnings",),
    "safety": ("/api/v1/safety-index",),
    "report": ("/api/v1/reports/",),
}


def available_topics(request: Request, role: str) -> dict[str, bool]:
    """Which topic panels this app can fill (none for a widget).

    Read from the app's OpenAPI paths (built once per app): FastAPI ≥ 0.16x keeps included
    routers as nested objects, so ``app.routes`` no longer lists their paths.
    """
    paths = list(request.app.openapi().get("paths", {}))
    return {topic: role != "widget" and all(any(p.startswith(w) for p in paths) for w in wanted)
            for topic, wanted in TOPIC_ROUTES.items()}


async def _page(request: Request, state: AppState, embed: EmbedRequest | None) -> HTMLResponse:
    bounds = await run_in_threadpool(data.service_bounds, state.engine)
    anchor = await run_in_threadpool(data.time_anchor, state.engine)
    role = current_role(request)
    if role == WIDGET:  # the newest incident's time, to its block of days only
        anchor = state.widget.ceil_time(anchor)
    extra: dict = {"topics": available_topics(request, role)}
    # The 平安指数 tile layer shows one month: the newest stored one.
    extra["indexPeriod"] = await run_in_threadpool(data.index_period, state.engine)
    # With no case at all the case figures and the 平安指数 have nothing to say (422): the
    # page shows its empty state instead of asking.
    extra["hasCases"] = await run_in_threadpool(data.newest_incident, state.engine) is not None
    if role != WIDGET:
        # Incidents of the opening window, so the page's analysis layers need not ask first.
        t1 = anchor + timedelta(seconds=1)
        t0 = t1 - timedelta(days=DEFAULT_WINDOW_DAYS)
        view = data.ViewFilter(bounds, t0, t1)
        n = await run_in_threadpool(data.incident_count, state.engine, view)
        extra["windowCount"] = {"from": t0.isoformat(), "to": t1.isoformat(), "incidents": n}
    config = PageConfig(
        settings=state.api, role=role, bounds=bounds, anchor=anchor,
        embed=embed, root_path=request.scope.get("root_path", ""), extra=extra,
    )
    html = await run_in_threadpool(render_page, config)
    # A key in the page's URL (?access_token=) must not travel on in a Referer header.
    return HTMLResponse(html, headers={"Cache-Control": "no-store",
                                       "Referrer-Policy": "no-referrer"})


@router.get("/map", response_class=HTMLResponse)
async def map_page(request: Request, state: StateDep) -> HTMLResponse:
    """The 一张图 page: layers, filters, summary panel and (for planners) planner mode."""
    return await _page(request, state, None)


@router.get("/map/embed", response_class=HTMLResponse)
async def map_embed(
    request: Request,
    state: StateDep,
    layers: Annotated[str | None, Query(description="comma-separated layer names")] = None,
    center: Annotated[str | None, Query(description="lon,lat of the view centre")] = None,
    zoom: Annotated[int | None, Query(description="zoom level 0-22")] = None,
) -> HTMLResponse:
    """The same map without chrome, for iframes; shows only what the caller's role allows."""
    return await _page(request, state, EmbedRequest.parse(layers, center, zoom))


@router.get("/map/labels", response_model=list[Label], response_model_exclude_unset=True)
async def map_labels(state: StateDep) -> list[dict]:
    """Label points of districts, streets and communities: ``{code,name,level,lon,lat}``."""
    return await run_in_threadpool(data.admin_labels, state.engine)


@router.get("/map/summary", response_model=ViewCount)
async def map_summary(
    state: StateDep,
    bbox: Annotated[str, Query(description="lon_min,lat_min,lon_max,lat_max")],
    from_: Annotated[str, Query(alias="from", description="ISO 8601 start (inclusive)")],
    to: Annotated[str, Query(description="ISO 8601 end (exclusive)")],
    tz: LocalZoneDep,
    category: str | None = None,
    source: str | None = None,
) -> dict:
    """Incidents in the current view and window (the summary panel's first figure)."""
    view = data.ViewFilter.parse(bbox, from_, to, category, source, tz=tz)
    count = await run_in_threadpool(data.incident_count, state.engine, view)
    return {"incidents": count, "from": view.t0.isoformat(), "to": view.t1.isoformat()}


def _window(from_: str, to: str, category: str | None, source: str | None, tz: str) -> Window:
    view = data.ViewFilter.parse("-180,-90,180,90", from_, to, category, source, tz=tz)
    return Window(view.t0, view.t1, view.categories, view.sources)


From = Annotated[str, Query(alias="from", description="ISO 8601 start (inclusive)")]
To = Annotated[str, Query(description="ISO 8601 end (exclusive)")]


@router.get("/map/stats", response_model=AreaStats, response_model_exclude_unset=True)
async def map_stats(
    state: StateDep, grid: GridSettingsDep, tz: LocalZoneDep, from_: From, to: To,
    level: Annotated[str, Query(description="street, community or grid")] = "community",
    category: str | None = None, source: str | None = None,
) -> dict:
    """Statistics by area for the screen's table: incidents, rates, cameras, grid balance."""
    window = _window(from_, to, category, source, tz)
    units = await run_in_threadpool(area_stats, state.engine, level, window, grid.grid_target,
                                    grid.grid_tolerance)
    return {"level": level, "from": window.t0.isoformat(), "to": window.t1.isoformat(),
            "count": len(units), "units": units}


@router.get("/map/trends", response_model=Trends, response_model_exclude_unset=True)
async def map_trends(
    state: StateDep, tz: LocalZoneDep, from_: From, to: To,
    step: Annotated[str, Query(description="day or week")] = "day",
    by: Annotated[str, Query(description="category or source")] = "category",
    category: str | None = None, source: str | None = None,
) -> dict:
    """Incidents per day or week by category or source, with 环比 and 同比."""
    window = _window(from_, to, category, source, tz)
    return await run_in_threadpool(trends, state.engine, window, step, by, tz)


@router.get("/map/search", response_model=Search, response_model_exclude_unset=True)
async def map_search(
    state: StateDep, dashboard: DashboardSettingsDep,
    q: Annotated[str, Query(description="code, incident number or part of a name")],
) -> dict:
    """Grid and camera codes, posts, incident numbers and names → places to fly to."""
    hits = await run_in_threadpool(search, state.engine, q, dashboard.search_limit)
    return {"query": q, "hits": hits}


@router.get("/map/record/{kind}/{rid}", response_model=Record, response_model_exclude_unset=True)
async def map_record(state: StateDep, kind: str, rid: int) -> dict:
    """One row found by the search, with an incident's case history when kept."""
    return await run_in_threadpool(record, state.engine, kind, rid)

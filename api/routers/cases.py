"""Case flow (ARCHITECTURE.md §5, §10): PATCH a case; figures, warnings and repeats per unit."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Body, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.auth import current_actor
from api.deps import CaseCacheDep, CasesDep, EngineDep, HotspotsDep
from api.models.base import documented
from api.models.cases import Case, CaseSummary, Repeats, SafetyIndex, Warnings
from api.responses import json_body
from geo.cases.figures import summary
from geo.cases.history import EDITABLE, patch_case
from geo.cases.lights import LIGHTS, warnings
from geo.cases.params import moment, window
from geo.cases.repeats import repeats
from geo.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["cases"])

Level = Annotated[str, Query(description="city|district|street|community|grid")]
From = Annotated[str | None, Query(alias="from", description="ISO 8601 start (inclusive)")]
To = Annotated[str | None, Query(description="ISO 8601 end (exclusive; a date means its end)")]
At = Annotated[str | None, Query(description="the moment (ISO 8601; default now)")]


@router.patch("/incidents/{source}/{external_id}", responses=documented(Case))
async def patch_incident(request: Request, engine: EngineDep, service: CasesDep,
                         background: BackgroundTasks, source: str, external_id: str,
                         changes: Annotated[dict[str, Any], Body(
                             description=f"fields to change: {', '.join(EDITABLE)}")]
                         ) -> Response:
    """Change a case (status, department, times, satisfaction); every change is kept.

    After the answer, the cases in memory are brought up to date in the background (only
    the changed rows are read), so the next figures do not wait for them.
    """
    actor = current_actor(request)
    tz = service.settings.timezone
    body = await run_in_threadpool(patch_case, engine, source, external_id, changes,
                                   actor=actor, tz=tz)
    if service.cases.key is not None:  # only when cases were read before: nothing to warm
        background.add_task(service.warm, engine)
    return json_body(body)


@router.get("/cases/summary", responses=documented(CaseSummary))
async def cases_summary(engine: EngineDep, cache: CaseCacheDep, level: Level = "city",
                        by: Annotated[str | None, Query(
                            description="department|category|source")] = None,
                        from_: From = None, to: To = None, at: At = None) -> Response:
    """Received, done, closure / on-time / satisfaction / reopen rates per unit (§10)."""
    w = window(from_, to, at, tz=cache.settings.timezone)

    def run():
        body = summary(cache.get(engine), level, w, by)
        return orjson.dumps({**body, "window": {"from": from_, "to": to},
                             "at": _iso(w.at)}, option=orjson.OPT_SERIALIZE_NUMPY)

    return Response(await run_in_threadpool(run), media_type="application/json")


def _iso(us: int) -> str:
    from geo.cases.figures import from_us

    return from_us(us).isoformat()


@router.get("/cases/warnings", responses=documented(Warnings))
async def cases_warnings(engine: EngineDep, cache: CaseCacheDep, level: Level = "city",
                         at: At = None,
                         light: Annotated[str | None, Query(description="red|yellow|green: "
                                                            "list only these")] = None,
                         limit: Annotated[int, Query(ge=0, le=10_000,
                                                     description="most cases listed")] = 1000
                         ) -> Response:
    """Open cases at ``at`` lit red / yellow / green, per unit and department, and listed."""
    if light not in (None, *LIGHTS):
        raise InvalidInput(f"unknown light {light!r}; use one of {', '.join(LIGHTS)}")
    t = moment(at, tz=cache.settings.timezone)

    def run():
        return orjson.dumps(warnings(cache.get(engine), level, t,
                                     limit=limit,
                                     light=light), option=orjson.OPT_SERIALIZE_NUMPY)

    return Response(await run_in_threadpool(run), media_type="application/json")


@router.get("/cases/repeats", responses=documented(Repeats))
async def cases_repeats(engine: EngineDep, cache: CaseCacheDep, level: Level = "city",
                        radius_m: Annotated[float, Query(gt=0, le=5000)] = 50.0,
                        days: Annotated[float, Query(gt=0, le=366)] = 30.0,
                        from_: From = None, to: To = None, at: At = None,
                        limit: Annotated[int, Query(ge=0, le=10_000,
                                                    description="most links listed")] = 1000
                        ) -> Response:
    """Repeat complaints linked to the earlier case they repeat, and repeat rates per unit."""
    w = window(from_, to, at, tz=cache.settings.timezone)

    def run():
        return orjson.dumps(repeats(cache.get(engine), level, w, radius_m=radius_m, days=days,
                                    limit=limit), option=orjson.OPT_SERIALIZE_NUMPY)

    return Response(await run_in_threadpool(run), media_type="application/json")


@router.get("/safety-index", responses=documented(SafetyIndex, geojson=True))
async def safety_index(engine: EngineDep, service: CasesDep,
                       level: Annotated[str, Query(description="grid|community|street|"
                                                   "district|city")] = "community",
                       period: Annotated[str | None, Query(description="2026-10 or 2026-W44 "
                                                           "(default: newest case's month)")]
                       = None,
                       weights: Annotated[str | None, Query(description="e.g. incidents:0.5,"
                                                            "overdue:0.3 (others keep theirs)")]
                       = None) -> Response:
    """平安指数 per unit (0–100, higher is safer), rank, change and 四级预警 level."""

    def run():
        return orjson.dumps(service.index(engine, level, period, weights),
                            option=orjson.OPT_SERIALIZE_NUMPY)

    return Response(await run_in_threadpool(run), media_type="application/geo+json")


@router.get("/reports/{period}.html", response_class=Response)
async def report_html(engine: EngineDep, service: CasesDep, hotspots: HotspotsDep,
                      period: str) -> Response:
    """The periodic 平安 report as one self-contained, printable HTML page (Chinese)."""
    from geo.cases.report import render_html

    html = await run_in_threadpool(render_html, engine, service, hotspots, period)
    return Response(html, media_type="text/html; charset=utf-8")


@router.get("/reports/{period}.pdf", response_class=Response)
async def report_pdf(engine: EngineDep, service: CasesDep, hotspots: HotspotsDep,
                     period: str) -> Response:
    """The periodic 平安 report as PDF (printed by headless Chromium)."""
    import tempfile
    from pathlib import Path

    from geo.cases.report import html_to_pdf, render_html

    def run() -> bytes:
        html = render_html(engine, service, hotspots, period)
        with tempfile.TemporaryDirectory(prefix="onemap-pdf-") as tmp:
            return html_to_pdf(html, Path(tmp) / "report.pdf").read_bytes()

    body = await run_in_threadpool(run)
    return Response(body, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="report-{period}.pdf"'})

"""Coverage: figures per level, gaps, siting, full refresh (ARCHITECTURE.md §5)."""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.deps import (
    CoverageCacheDep,
    CoverageSettingsDep,
    EngineDep,
    GapsRefresherDep,
    StateDep,
)
from api.models.base import documented
from api.models.coverage import CameraSiting, CoverageSummary, GapCollection, RefreshReport
from api.params import BboxDep, LocalZoneDep
from api.responses import json_body
from geo.coverage.gapstore import gap_features
from geo.coverage.placement import site_cameras
from geo.coverage.summary import summary
from geo.coverage.views import refresh_all
from geo.params import parse_time

router = APIRouter(prefix="/api/v1/coverage", tags=["coverage"])

Level = Literal["city", "district", "street", "community", "grid"]
Days = Annotated[int | None, Query(ge=1, le=3660, description="incident window, days")]


@router.get("/summary", responses=documented(CoverageSummary))
def coverage_summary(engine: EngineDep, state: StateDep, settings: CoverageSettingsDep,
                     cache: CoverageCacheDep,
                     tz: LocalZoneDep, level: Level = "city", days: Days = None,
                     until: Annotated[str | None, Query(
                         description="end of the incident window, ISO 8601; without an "
                                     "offset it is local time (default: newest incident)")
                     ] = None) -> Response:
    """Coverage per unit of ``level``, overall and per camera class.

    Bases: public area, roads, key places, H3 cells and incidents; cameras that
    see nothing are listed.
    """
    end = parse_time(until, "until", tz=tz)
    return json_body(summary(engine, level, settings=settings, area=state.area, until=end,
                         days=days, cache=cache))


@router.get("/gaps", responses=documented(GapCollection, geojson=True))
def coverage_gaps(engine: EngineDep, state: StateDep, settings: CoverageSettingsDep,
                  cache: CoverageCacheDep,
                  refresher: GapsRefresherDep,
                  bbox: BboxDep,
                  min_area: Annotated[float | None, Query(ge=0, description="m²")] = None,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
                  days: Days = None) -> Response:
    """Uncovered public ground, best first (priority = incidents + hectares).

    When the data changed since the gaps were stored, the stored gaps are answered at once
    with ``stale: true`` while they are recomputed in the background.
    """
    fc = gap_features(engine, bbox=bbox, min_area=min_area, limit=limit, days=days,
                      settings=settings, area=state.area, cache=cache, refresher=refresher)
    return json_body(fc, "application/geo+json")


class Candidate(BaseModel):
    """A site the caller proposes (bearing optional: several are tried)."""

    model_config = ConfigDict(strict=True)  # true/false are not numbers

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    azimuth: float | None = Field(None, ge=0, lt=360)
    fov: float | None = Field(None, gt=0, le=360)
    range_m: float | None = Field(None, gt=0, le=2000)
    height_m: float | None = Field(None, ge=0, le=300)
    tilt: float | None = Field(None, ge=0, le=90)


class SitingRequest(BaseModel):
    """Where ``k`` new cameras should go."""

    model_config = ConfigDict(strict=True)

    k: int = Field(ge=1, le=500)
    weight: Literal["incidents", "area", "roads"] = "incidents"
    candidates: list[Candidate] | None = Field(None, max_length=5_000)
    method: Literal["greedy", "exact", "auto"] = "greedy"
    days: int | None = Field(None, ge=1, le=3660)


@router.post("/siting", responses=documented(CameraSiting))
async def coverage_siting(body: SitingRequest, request: Request, engine: EngineDep,
                          state: StateDep, settings: CoverageSettingsDep) -> Response:
    """Propose ``k`` new cameras (existing ones fixed) with the coverage curve.

    The exact solver's child process is ended at ``ONEMAP_COVERAGE_SITE_TIME_LIMIT_S``
    (the answer is then the greedy one, ``status: killed_at_time_limit``) or as soon as
    the client goes away.
    """
    posted = None
    if body.candidates is not None:
        posted = [c.model_dump(exclude_none=True) for c in body.candidates]
    cancel = threading.Event()
    work = asyncio.ensure_future(run_in_threadpool(
        site_cameras, engine, body.k, body.weight, candidates=posted, method=body.method,
        settings=settings, area=state.area, days=body.days, cancel=cancel))
    try:
        while not work.done():
            await asyncio.wait({work}, timeout=0.25)
            if not work.done() and await request.is_disconnected():
                cancel.set()
        return json_body(work.result())
    finally:
        cancel.set()  # a cancelled request (or an error) ends the solver too


@router.post("/refresh", response_model=RefreshReport)
def coverage_refresh(engine: EngineDep, state: StateDep, settings: CoverageSettingsDep) -> dict:
    """Recompute every camera view (and the stored gaps on their next read).

    Runs in this process (no forked workers from a server thread); the CLI's
    ``onemap coverage refresh`` uses worker processes.
    """
    report = refresh_all(engine, settings.model_copy(update={"workers": 1}), state.area)
    return {"cameras": report.cameras, "views": report.views, "blocked": report.blocked,
            "removed": report.removed, "seconds": report.seconds}

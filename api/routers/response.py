"""Response circles (应急处置圈): areas, figures, nearest post, siting (ARCHITECTURE.md §5, §9)."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.codings import negotiate
from api.deps import (
    EngineDep,
    ResponseAnswersDep,
    ResponseCacheDep,
    ResponseSettingsDep,
    StateDep,
)
from api.models.base import documented
from api.models.response import NearestPosts, PostSiting, ReachAreas, ReachSummary
from api.responses import json_body
from geo.codings import compress
from geo.errors import InvalidInput
from geo.response.areas import cached_areas, check_overlap
from geo.response.context import (
    ReachContext,
    check_minutes,
    check_mode,
    default_minutes,
    filter_posts,
    reach_context,
)
from geo.response.nearest import nearest_posts
from geo.response.settings import ResponseSettings
from geo.response.siting import site_posts
from geo.response.summary import LEVELS, response_summary

router = APIRouter(prefix="/api/v1/response", tags=["response"])


ModeQ = Annotated[str, Query(description="drive (police cars) or walk (e.g. 党群服务中心)")]
MinutesQ = Annotated[str | None, Query(
    description="breaks in minutes, comma-separated (default 1,3,5 driving; 10 walking)")]


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _minutes(value: str | None, mode: str, settings: ResponseSettings) -> tuple[float, ...]:
    items = _list(value)
    if value is not None and not items:
        raise InvalidInput("minutes must be a comma-separated list of numbers, e.g. 1,3,5")
    return check_minutes(items or default_minutes(mode), settings)


def _context(request: Request, engine, state, settings, cache, mode: str,
             require_posts: bool = True) -> ReachContext:
    """The reach of ``mode``; recent incidents may lag while the warm-up reads new ones."""
    warmer = state.response_warmer
    lag = settings.incidents_lag_s if warmer.running else 0.0
    ctx = reach_context(engine, check_mode(mode), settings=settings, area=state.area,
                        cache=cache, require_posts=require_posts, incidents_lag_s=lag)
    if ctx.incidents_stale:
        warmer.poke()
    return ctx


@router.get("/areas", responses=documented(ReachAreas, geojson=True))
def areas(request: Request, engine: EngineDep, state: StateDep, settings: ResponseSettingsDep,
          cache: ResponseCacheDep, answers: ResponseAnswersDep, minutes: MinutesQ = None,
          mode: ModeQ = "drive",
          kind: Annotated[str | None, Query(description="post kinds, comma-separated")] = None,
          posts: Annotated[str | None, Query(description="post codes, comma-separated")] = None,
          overlap: Annotated[str, Query(description="dissolve | split | overlap")] = "dissolve",
          ) -> Response:
    """Areas reached within each break: street pieces reached, widened by the road side."""
    check_mode(mode)
    check_overlap(overlap)
    mins = _minutes(minutes, mode, settings)
    ctx = filter_posts(_context(request, engine, state, settings, cache, mode),
                       kinds=_list(kind), codes=_list(posts))
    coding = negotiate(request.headers.get("accept-encoding", ""))

    def body() -> bytes:
        raw = orjson.dumps(cached_areas(ctx, mins, overlap, answers),
                           option=orjson.OPT_SERIALIZE_NUMPY)
        return compress(raw, coding) if coding else raw

    # The encoded body is kept with the answer: a repeated request sends bytes already
    # compressed (the app's gzip middleware leaves a body with a Content-Encoding alone).
    data = answers.get(("areas-body", ctx.key, mins, overlap, coding), body) if ctx.key \
        else body()
    headers = {"Vary": "Accept-Encoding", **({"Content-Encoding": coding} if coding else {})}
    return Response(data, media_type="application/geo+json", headers=headers)


@router.get("/summary", responses=documented(ReachSummary))
def summary(request: Request, engine: EngineDep, state: StateDep, settings: ResponseSettingsDep,
            cache: ResponseCacheDep,
            level: Annotated[str, Query(description="|".join(LEVELS))] = "city",
            minutes: MinutesQ = None, mode: ModeQ = "drive") -> Response:
    """Households, population, key places and recent incidents reached per unit and break."""
    if level not in LEVELS:
        raise InvalidInput(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    check_mode(mode)
    mins = _minutes(minutes, mode, settings)
    ctx = _context(request, engine, state, settings, cache, mode)
    with engine.connect() as conn:
        return json_body(response_summary(ctx, conn, level, mins))


@router.get("/nearest", responses=documented(NearestPosts, geojson=True))
def nearest(request: Request, engine: EngineDep, state: StateDep, settings: ResponseSettingsDep,
            cache: ResponseCacheDep, lon: Annotated[float, Query(ge=-180, le=180)],
            lat: Annotated[float, Query(ge=-90, le=90)],
            k: Annotated[int, Query(ge=1, le=100)] = 3, mode: ModeQ = "drive") -> Response:
    """The k fastest posts to a point (an incident), with seconds, metres and the route."""
    ctx = _context(request, engine, state, settings, cache, mode)
    return json_body(nearest_posts(ctx, lon, lat, k), "application/geo+json")


class SitingRequest(BaseModel):
    """Where ``k`` new posts should go."""

    k: int = Field(ge=1, le=200)
    minutes: float = Field(5.0, gt=0, le=60)
    weight: Literal["households", "incidents", "key_places"] = "households"
    mode: str = "drive"
    method: Literal["auto", "greedy", "exact"] = "auto"


@router.post("/siting", responses=documented(PostSiting, geojson=True))
def siting(request: Request, body: SitingRequest, engine: EngineDep, state: StateDep,
           settings: ResponseSettingsDep, cache: ResponseCacheDep) -> Response:
    """Propose ``k`` new posts (existing ones fixed) with the coverage curve."""
    check_mode(body.mode)
    (m,) = check_minutes([body.minutes], settings)
    ctx = _context(request, engine, state, settings, cache, body.mode, require_posts=False)
    return json_body(site_posts(ctx, body.k, m, body.weight, body.method), "application/geo+json")

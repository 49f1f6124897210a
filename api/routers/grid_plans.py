"""Grid plans over HTTP (ARCHITECTURE.md §5).

Versions, evaluation, redistricting, edits, diff, 多网合一.

``{plan}`` is a plan id or ``active``. Writes to a draft take ``If-Match: "<version>"``
(required for edits, optional for redistrict/publish); a stale version answers
412 ``plan_version_conflict`` and changes nothing.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import current_actor
from api.bodies import decode_object, json_body_doc
from api.deps import AreaDep, EngineDep, GridSettingsDep, StateDep
from api.errors import error_response
from api.models.base import documented
from api.models.grid_plans import (
    BuildingCollection,
    Edited,
    Evaluation,
    GridCollection,
    Overlay,
    Plan,
    PlanChange,
    PlanDetail,
    PlanDiff,
    Redistricted,
)
from api.models.jobs import Job
from api.params import Id, Seed, Text
from api.routers.jobs import accepted, launch
from geo import jobs
from geo.errors import NotFound, PlanConflict
from geo.geojson_checks import features_of
from geo.gridplan import plan_views, plans
from geo.gridplan.diff import diff_plans
from geo.gridplan.edits import apply_edit
from geo.gridplan.overlay import read_layer
from geo.gridplan.parallel import Parallelism
from geo.gridplan.redistrict import RedistrictParams, redistrict
from geo.params import BIGINT_MAX

router = APIRouter(prefix="/api/v1/grid-plans", tags=["grid plans"])

PlanRef = Annotated[str, Path(pattern=r"^(\d+|active)$", description="plan id or `active`")]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='plan version, e.g. "3"')]


class NewPlan(BaseModel):
    """A new draft: a copy of ``from_plan`` (empty when null)."""

    model_config = ConfigDict(strict=True)  # no "1" for 1, no true for 1

    name: Text = Field(min_length=1, max_length=200)
    from_plan: Id | None = None
    note: Text | None = Field(None, max_length=2000)


class RedistrictBody(BaseModel):
    """Redistricting request; defaults from ``ONEMAP_GRID_*``."""

    model_config = ConfigDict(strict=True)  # no "1" for 1, no true for 1

    target: int | None = Field(None, ge=10, le=10_000)
    tolerance: float | None = Field(None, gt=0, lt=1)
    communities: list[Text] | None = Field(None, max_length=10_000)
    seed: Seed | None = None


class EditBody(BaseModel):
    """One edit of a draft (see ``geo.gridplan.edits``)."""

    model_config = ConfigDict(strict=True)  # no "1" for 1, no true for 1

    op: Literal["move", "split", "merge", "lock", "unlock"]
    buildings: list[Id] | None = Field(None, max_length=100_000)
    to_grid: Text | None = None
    grid: Text | None = None
    grids: list[Text] | None = Field(None, max_length=1000)
    k: int | None = None


def _plan_id(engine, plan: str) -> int:
    if plan == "active":
        return plan_views.resolve_plan(engine, None)
    plan_id = int(plan)
    if not 0 < plan_id <= BIGINT_MAX:
        raise NotFound(f"no grid plan {plan}")
    return plan_views.resolve_plan(engine, plan_id)


def _version(if_match: str | None) -> int | None:
    """``"3"``, ``W/"3"`` or ``3`` → 3; anything else can never match (412)."""
    if if_match is None:
        return None
    raw = if_match.strip()
    raw = raw[2:] if raw.startswith("W/") else raw
    raw = raw.strip('"')
    if not raw.isdigit():
        raise PlanConflict(f"If-Match {if_match!r} is not a plan version")
    return int(raw)


def _geojson(fc: dict) -> Response:
    return Response(orjson.dumps(fc), media_type="application/geo+json")


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


@router.get("", response_model=list[Plan], response_model_exclude_unset=True)
def list_plans(engine: EngineDep) -> list[dict]:
    """All plans, newest first, with grid and household counts."""
    with engine.connect() as conn:
        return plans.list_plans(conn)


@router.post("", status_code=201, response_model=PlanDetail, response_model_exclude_unset=True)
def create_plan(body: NewPlan, request: Request, response: Response, engine: EngineDep) -> dict:
    """Start a draft as a copy of ``from_plan``."""
    with engine.begin() as conn:
        plan_id = plans.create_plan(
            conn, body.name, body.from_plan, current_actor(request), body.note
        )
        out = plans.get_plan(conn, plan_id)
    _etag(response, out["version"])
    response.headers["Location"] = f"/api/v1/grid-plans/{plan_id}"
    return out


@router.get("/{plan}", response_model=PlanDetail, response_model_exclude_unset=True)
def get_plan(plan: PlanRef, response: Response, engine: EngineDep) -> dict:
    """One plan; ``ETag`` is its version (send it back as ``If-Match``)."""
    plan_id = _plan_id(engine, plan)
    with engine.connect() as conn:
        out = plans.get_plan(conn, plan_id)
    _etag(response, out["version"])
    return out


@router.get("/{plan}/history", response_model=list[PlanChange], response_model_exclude_unset=True)
def plan_history(plan: PlanRef, engine: EngineDep) -> list[dict]:
    """Every recorded change of the plan, oldest first."""
    plan_id = _plan_id(engine, plan)
    with engine.connect() as conn:
        return plans.history(conn, plan_id)


@router.get("/{plan}/evaluate", response_model=Evaluation, response_model_exclude_unset=True)
def evaluate(
    plan: PlanRef,
    engine: EngineDep,
    settings: GridSettingsDep,
    area: AreaDep,
    target: Annotated[int | None, Query(ge=10, le=10_000)] = None,
    tolerance: Annotated[float | None, Query(gt=0, lt=1)] = None,
    community: Annotated[list[str] | None, Query()] = None,
    grids: bool = True,
    exact: Annotated[bool, Query(description=(
        "prove contiguity infeasibility for unbalanced communities (seconds each); "
        "false: households-only checks, for interactive views"))] = True,
) -> dict:
    """Evaluate a plan per grid and in total.

    Band, deviation, contiguity, holes, Polsby–Popper, overlaps/gaps, unassigned
    buildings, crossings, infeasible cases.
    """
    plan_id = _plan_id(engine, plan)
    return plan_views.evaluate_plan(
        engine, plan_id, settings, community, target, tolerance, grids=grids,
        exact=exact, area=area,
    )


@router.get("/{plan}/grids", responses=documented(GridCollection, geojson=True))
def grids(
    plan: PlanRef, engine: EngineDep, settings: GridSettingsDep, community: str | None = None,
    buildings: bool = True,
) -> Response:
    """FeatureCollection of the plan's grids.

    Properties: code, households, community_code, deviation, within_band, locked,
    building_ids (``buildings=false`` leaves the ids out).
    """
    plan_id = _plan_id(engine, plan)
    fc = plan_views.grids_geojson(engine, plan_id, settings, community, buildings)
    return _geojson(fc)


@router.get("/{plan}/buildings",
            responses=documented(BuildingCollection, geojson=True))
def plan_buildings(
    plan: PlanRef,
    engine: EngineDep,
    grid: str | None = None,
    community: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200_000)] = 50_000,
) -> Response:
    """Buildings (points) with their grid code in this plan; ``grid=`` or ``community=`` filter."""
    plan_id = _plan_id(engine, plan)
    fc = plan_views.buildings_geojson(engine, plan_id, grid, community, limit)
    return _geojson(fc)


@router.post("/{plan}/redistrict", response_model=Redistricted, response_model_exclude_unset=True)
def redistrict_plan(
    plan: PlanRef,
    body: RedistrictBody,
    request: Request,
    response: Response,
    engine: EngineDep,
    settings: GridSettingsDep,
    area: AreaDep,
    if_match: IfMatch = None,
) -> dict:
    """Redistrict the draft's communities (all, or ``communities``)."""
    plan_id = _plan_id(engine, plan)
    params = RedistrictParams.from_settings(
        settings, target=body.target, tolerance=body.tolerance, seed=body.seed
    )
    out = redistrict(
        engine, plan_id, params, current_actor(request), body.communities, _version(if_match),
        parallel=Parallelism.from_settings(settings), area=area,
    )
    _etag(response, out["version"])
    return out


@router.post(
    "/{plan}/edits",
    response_model=Edited,
    response_model_exclude_unset=True,
    responses={
        412: {"description": "stale If-Match version"},
        428: {"description": "If-Match missing"},
    },
)
def edit_plan(
    plan: PlanRef,
    body: EditBody,
    request: Request,
    response: Response,
    engine: EngineDep,
    settings: GridSettingsDep,
    area: AreaDep,
    if_match: IfMatch = None,
) -> Any:
    """Edit a draft: move buildings, split, merge, lock/unlock.

    Returns the new version and the evaluation of the touched grids.
    """
    if if_match is None:
        return error_response(
            428,
            'send If-Match: "<plan version>" (GET the plan for its ETag)',
            "precondition_required",
        )
    plan_id = _plan_id(engine, plan)
    out = apply_edit(
        engine,
        plan_id,
        body.model_dump(exclude_none=True),
        current_actor(request),
        _version(if_match),
        settings=settings,
        area=area,
    )
    _etag(response, out["version"])
    return out


@router.post("/{plan}/publish", status_code=202, response_model=Job,
             response_model_exclude_unset=True)
def publish(
    plan: PlanRef, request: Request, response: Response, engine: EngineDep, if_match: IfMatch = None
) -> dict:
    """Make the draft active (the old active plan is archived); incidents move to its grids.

    Runs as a job: ``202`` with the job and ``Location: /api/v1/jobs/{id}`` to poll;
    its ``result`` is the publish report. A publish that would be refused (stale
    ``If-Match``, not a draft, no grids, a publish of it already running) is refused
    here, before the job (412/409).
    """
    plan_id = _plan_id(engine, plan)
    version = _version(if_match)
    with engine.begin() as conn:
        plans.check_publishable(conn, plan_id, version, lock=False)  # a running job holds it
    actor = current_actor(request)
    job_id = jobs.create(engine, "grid_plan.publish", f"grid_plans/{plan_id}", actor)
    launch(engine, job_id, lambda conn, progress: plans.publish(
        conn, plan_id, actor, version, progress=progress))
    return accepted(response, engine, job_id)


@router.get("/{a}/diff/{b}", response_model=PlanDiff, response_model_exclude_unset=True)
def diff(
    a: PlanRef, b: PlanRef, engine: EngineDep, moves: Annotated[int, Query(ge=0, le=100_000)] = 5000
) -> dict:
    """Grids added/removed/changed, buildings and households that change grid, a change layer."""
    ia, ib = _plan_id(engine, a), _plan_id(engine, b)
    with engine.connect() as conn:
        return diff_plans(conn, ia, ib, moves)


def _overlay_layer(body: bytes, key: str | None):
    """Decode and check a departmental layer (module level: it may run in a worker process)."""
    layer = decode_object(body)
    features_of(layer, allowed={"Polygon", "MultiPolygon"})  # ranges, closed rings, validity
    return read_layer(layer, key)


@router.post("/{plan}/overlay", response_model=Overlay, response_model_exclude_unset=True,
             openapi_extra=json_body_doc("GeoJSON FeatureCollection of (Multi)Polygons",
                                         ("application/json", "application/geo+json")))
async def overlay(plan: PlanRef, request: Request, state: StateDep,
                  key: str | None = None) -> dict:
    """多网合一: another department's grid layer (GeoJSON FeatureCollection) against this plan."""
    layer = await state.bodies.run(_overlay_layer, await request.body(), key)
    plan_id = await run_in_threadpool(_plan_id, state.engine, plan)
    return await run_in_threadpool(partial(plan_views.overlay, area=state.area),
                                   state.engine, plan_id, layer)

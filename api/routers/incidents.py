"""``POST /api/v1/incidents``: ingest incidents as GeoJSON or NDJSON, all-or-nothing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api.auth import current_actor
from api.deps import StateDep
from geo.crs import parse_crs, to_wgs84
from geo.io.features import frame_from_geojson
from geo.io.load import load_frame

router = APIRouter(prefix="/api/v1", tags=["incidents"])

JSON_TYPES = {"application/json", "application/geo+json", ""}
NDJSON_TYPES = {"application/x-ndjson", "application/ndjson", "application/geo+json-seq",
                "application/json-seq"}


class IngestResult(BaseModel):
    """What an ingest did."""

    received: int
    inserted: int
    already_present: int
    updated: int = 0


def _body_kind(request: Request) -> bool:
    """True for NDJSON, False for GeoJSON; 415 for anything else."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in NDJSON_TYPES:
        return True
    if ctype in JSON_TYPES:
        return False
    raise HTTPException(415, f"send application/geo+json or application/x-ndjson, not {ctype}")


def _frame(body: bytes, ndjson: bool):
    """The body's features as a frame (module level: it may run in a worker process)."""
    return frame_from_geojson(body, ndjson=ndjson)


@router.post(
    "/incidents",
    response_model=IngestResult,
    summary="Ingest incidents (GeoJSON Feature, FeatureCollection or NDJSON)",
    responses={422: {"description": "a feature is invalid; the detail names the first one"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/geo+json": {"schema": {"type": "object"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    }}},
)
async def ingest_incidents(
    request: Request,
    state: StateDep,
    crs: Annotated[str | None, Query(description="CRS of the coordinates: gcj02, bd09 or an "
                                                  "EPSG code (default WGS84)")] = None,
    on_conflict: Annotated[str, Query(pattern="^(skip|update)$",
                                      description="skip or update incidents already present "
                                                  "(same source and external_id)")] = "skip",
) -> IngestResult:
    """Insert incidents; those already present (same source and external_id) are skipped.

    All-or-nothing: one bad feature → 422 naming it, and nothing is written.
    """
    ndjson = _body_kind(request)
    source_crs = parse_crs(crs)
    # Decoding a large body takes seconds: off the event loop (api.bodies).
    frame = await state.bodies.run(_frame, await request.body(), ndjson)
    frame = await run_in_threadpool(to_wgs84, frame, source_crs)
    report = await run_in_threadpool(
        load_frame, state.engine, "incidents", frame, on_conflict=on_conflict, progress=False,
        area=state.area, settings=state.ingest_settings, label="feature",
        actor=current_actor(request),
    )
    return IngestResult(received=report.read, inserted=report.inserted,
                        already_present=report.skipped, updated=report.updated)

"""Cameras: list, read, create, update, delete (ARCHITECTURE.md §5).

Each write recomputes the camera's view in the same transaction.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.auth import current_actor
from api.bodies import SmallJsonObject, json_body_doc
from api.deps import CoverageSettingsDep, EngineDep, StateDep
from api.models.base import documented
from api.models.cameras import CameraCollection
from api.models.geojson import Feature
from api.params import BboxDep
from geo.coverage import camera_edits
from geo.vocabulary import CAMERA_CLASSES, CAMERA_KINDS, CAMERA_STATUSES

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])

GEOJSON = "application/geo+json"
CameraId = Annotated[int, Path(ge=1, le=2_147_483_647, description="camera id")]


def _geojson(body: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=GEOJSON)


@router.get("", responses=documented(CameraCollection, geojson=True))
def list_cameras(engine: EngineDep, bbox: BboxDep,
                 status: Literal[CAMERA_STATUSES] | None = None,
                 cls: Annotated[Literal[CAMERA_CLASSES] | None, Query(alias="class")] = None,
                 kind: Literal[CAMERA_KINDS] | None = None,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                 offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0) -> Response:
    """Cameras as a GeoJSON FeatureCollection (with the area each one sees)."""
    with engine.connect() as conn:
        fc = camera_edits.list_cameras(conn, bbox=bbox, status=status, cls=cls,
                                       kind=kind, limit=limit, offset=offset)
    return _geojson(fc)


@router.get("/{camera_id}", responses=documented(Feature, geojson=True))
def get_camera(camera_id: CameraId, engine: EngineDep,
               view: Annotated[bool, Query(description="include the view polygon")] = False
               ) -> Response:
    """One camera as a GeoJSON Feature."""
    with engine.connect() as conn:
        return _geojson(camera_edits.get_camera(conn, camera_id, with_view=view))


def _with_report(feature: dict, report) -> dict:
    feature["properties"]["view_refresh_s"] = report.seconds
    return feature


@router.post("", status_code=201, responses=documented(Feature, "created", 201, True),
             openapi_extra=json_body_doc("GeoJSON Feature or fields with lon/lat"))
def create_camera(request: Request, engine: EngineDep, state: StateDep,
                  settings: CoverageSettingsDep, body: SmallJsonObject) -> Response:
    """Add a camera; its view is computed before the answer (201)."""
    feature, report = camera_edits.create_camera(engine, body, current_actor(request),
                                                 settings=settings, area=state.area)
    return _geojson(_with_report(feature, report), 201)


@router.put("/{camera_id}", responses=documented(Feature, geojson=True),
            openapi_extra=json_body_doc("fields to change (Feature or flat)"))
def update_camera(camera_id: CameraId, request: Request, engine: EngineDep, state: StateDep,
                  settings: CoverageSettingsDep, body: SmallJsonObject) -> Response:
    """Change a camera (fields not given keep their values); its view is recomputed."""
    feature, report = camera_edits.update_camera(engine, camera_id, body, current_actor(request),
                                                 settings=settings, area=state.area)
    return _geojson(_with_report(feature, report))


@router.delete("/{camera_id}", status_code=204)
def delete_camera(camera_id: CameraId, request: Request, engine: EngineDep) -> Response:
    """Remove a camera and its view."""
    camera_edits.delete_camera(engine, camera_id, current_actor(request))
    return Response(status_code=204)

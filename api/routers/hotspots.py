"""Hotspots, emerging hot spots, backtests and the heatmap (DESIGN §5).

Query parameters are read by small dependencies that build validated query
objects (``geo.hotspots.params``); bad values raise ``InvalidInput`` (400) and
windows with too few incidents ``NotEnoughData`` (422). Every answer echoes the
parameters it used under ``parameters``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep
from geo.hotspots import analyses
from geo.hotspots.params import (
    BacktestQuery,
    EmergingQuery,
    HeatmapQuery,
    HotspotQuery,
    backtest_query,
    emerging_query,
    heatmap_query,
    hotspot_query,
)
from geo.hotspots.service import HotspotService, service_for

router = APIRouter(prefix="/api/v1", tags=["hotspots"])

Res = Annotated[int | None, Query(description="H3 resolution 6..12 (default 9)")]
Rings = Annotated[int | None, Query(description="k-ring neighbourhood, 1..3 (default 1)")]
From = Annotated[str | None, Query(alias="from", description="ISO 8601 start (inclusive)")]
To = Annotated[str | None, Query(description="ISO 8601 end (exclusive; a date means its end)")]
Category = Annotated[str | None, Query(description="comma-separated categories")]
Source = Annotated[str | None, Query(description="comma-separated sources")]
Bbox = Annotated[str | None, Query(description="lon_min,lat_min,lon_max,lat_max")]


def _json(body: dict) -> Response:
    """A JSON response serialised once with orjson (bodies hold thousands of cells)."""
    return Response(orjson.dumps(body), media_type="application/json")


def get_service(engine: EngineDep) -> HotspotService:
    """The hotspot service (and caches) of the app's engine."""
    return service_for(engine)


ServiceDep = Annotated[HotspotService, Depends(get_service)]


def hotspot_params(svc: ServiceDep, res: Res = None, k: Rings = None, from_: From = None,
                   to: To = None, category: Category = None, source: Source = None,
                   bbox: Bbox = None,
                   alpha: Annotated[float | None, Query(
                       description="FDR level of the 95 % bin; bins use alpha/5, alpha, "
                                   "2·alpha")] = None) -> HotspotQuery:
    """Parameters of ``/hotspots``."""
    return hotspot_query(svc.settings, res, k, alpha, from_, to, category, source, bbox)


def emerging_params(svc: ServiceDep, res: Res = None, k: Rings = None, from_: From = None,
                    to: To = None, step: Literal["week", "month"] = "week",
                    category: Category = None, source: Source = None, bbox: Bbox = None,
                    time_window: Annotated[int | None, Query(
                        description="previous steps in the space-time neighbourhood")] = None,
                    alpha: Annotated[float | None, Query(
                        description="BH-FDR level of hot/cold bins (default 0.10)")] = None,
                    trend_alpha: Annotated[float | None, Query(
                        description="Mann-Kendall level (default 0.05)")] = None
                    ) -> EmergingQuery:
    """Parameters of ``/hotspots/emerging``."""
    return emerging_query(svc.settings, res, k, step, from_, to, category, source, bbox,
                          time_window, alpha, trend_alpha)


def backtest_params(svc: ServiceDep, res: Res = None, k: Rings = None,
                    train_from: str | None = None, train_to: str | None = None,
                    test_from: str | None = None, test_to: str | None = None,
                    top: Annotated[float, Query(description="share of cells, (0, 0.5]")] = 0.05,
                    method: Literal["gi", "count"] = "gi", category: Category = None,
                    source: Source = None, bbox: Bbox = None) -> BacktestQuery:
    """Parameters of ``/hotspots/backtest``."""
    return backtest_query(svc.settings, res, k, train_from, train_to, test_from, test_to, top,
                          method, category, source, bbox)


def heatmap_params(svc: ServiceDep, res: Res = None,
                   bandwidth_m: Annotated[float | None, Query(
                       description="kernel radius in metres (default: rule)")] = None,
                   from_: From = None, to: To = None, category: Category = None,
                   source: Source = None, bbox: Bbox = None) -> HeatmapQuery:
    """Parameters of ``/heatmap``."""
    return heatmap_query(svc.settings, bandwidth_m, res, from_, to, category, source, bbox)


@router.get("/hotspots")
async def hotspots(svc: ServiceDep, q: Annotated[HotspotQuery, Depends(hotspot_params)],
                   significant_only: bool = False) -> Response:
    """Gi* hot and cold spots on H3 cells with BH-FDR bins (FeatureCollection)."""
    result = await run_in_threadpool(analyses.hotspots, svc, q)
    return _json(await run_in_threadpool(result.geojson, significant_only))


@router.get("/hotspots/emerging")
async def emerging(svc: ServiceDep, q: Annotated[EmergingQuery, Depends(emerging_params)],
                   pattern_only: bool = False) -> Response:
    """Emerging hot spot category of every cell (FeatureCollection)."""
    result = await run_in_threadpool(analyses.emerging, svc, q)
    return _json(await run_in_threadpool(result.geojson, pattern_only))


@router.get("/hotspots/backtest")
async def backtest(svc: ServiceDep, q: Annotated[BacktestQuery, Depends(backtest_params)]
                   ) -> Response:
    """Hit rate, PAI and RRI of training-window hotspots on the test window."""
    result = await run_in_threadpool(analyses.backtest, svc, q)
    return _json(result.to_dict())


@router.get("/heatmap")
async def heatmap(svc: ServiceDep, q: Annotated[HeatmapQuery, Depends(heatmap_params)],
                  format: Literal["points", "cells"] = "points") -> Response:
    """Quartic kernel density: ``[[lat, lon, density]]`` for Leaflet.heat, or H3 cells."""
    result = await run_in_threadpool(analyses.heatmap, svc, q)
    if format == "cells":
        return _json(result.geojson())
    return _json(result.to_dict())

"""Hotspots, emerging hot spots, backtests and the heatmap (ARCHITECTURE.md §5).

Query parameters are read by small dependencies that build validated query
objects (``geo.hotspots.params``); bad values raise ``InvalidInput`` (400) and
windows with too few incidents ``NotEnoughData`` (422). Every answer echoes the
parameters it used under ``parameters`` (``data_version``: the incidents version
read, at most ``ONEMAP_HOTSPOT_MAX_STALE_S`` behind the database). Computations
run in worker threads, at most ``ONEMAP_HOTSPOT_MAX_CONCURRENT`` at once per
process, so tiles and features keep answering while hotspots queue; the
analysis, its serialisation and compression share one worker-thread hop. Large
answers are sent in the best content coding the client accepts (zstd, br, gzip;
``geo.codings``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.codings import negotiate
from api.deps import HotspotsDep
from api.models.base import documented
from api.models.hotspots import HEATMAP, Backtest, EmergingCollection, HotspotCollection
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
from geo.hotspots.runtime import HotspotService

router = APIRouter(prefix="/api/v1", tags=["hotspots"])

Res = Annotated[int | None, Query(description="H3 resolution 6..12 (default 9)")]
Rings = Annotated[int | None, Query(description="k-ring neighbourhood, 1..3 (default 1)")]
From = Annotated[str | None, Query(alias="from", description="ISO 8601 start (inclusive)")]
To = Annotated[str | None, Query(description="ISO 8601 end (exclusive; a date means its end)")]
Category = Annotated[str | None, Query(description="comma-separated categories")]
Source = Annotated[str | None, Query(description="comma-separated sources")]
Bbox = Annotated[str | None, Query(description="lon_min,lat_min,lon_max,lat_max")]


def _send(body: bytes, coding: str | None) -> Response:
    """A JSON answer in the negotiated content coding.

    The app's gzip middleware leaves bodies that carry a ``Content-Encoding`` alone.
    """
    headers = {"Vary": "Accept-Encoding"}
    if coding:
        headers["Content-Encoding"] = coding
    return Response(body, media_type="application/json", headers=headers)


async def _answer(request: Request, svc: HotspotService, analysis, q, variant: str,
                  make_body) -> Response:
    """Run ``analysis(svc, q)`` and serialise its result in one worker-thread hop.

    ``make_body(result)`` gives the JSON (bytes or an object); bodies are cached
    on the result per variant and content coding, so a repeated request sends
    bytes already compressed.
    """
    coding = negotiate(request.headers.get("accept-encoding", ""))

    def run() -> bytes:
        result = analysis(svc, q)
        return result.encoded(variant, lambda: make_body(result), coding)

    return _send(await svc.gate.run(run, timeout=svc.settings.time_budget_s), coding)


def hotspot_params(svc: HotspotsDep, res: Res = None, k: Rings = None, from_: From = None,
                   to: To = None, category: Category = None, source: Source = None,
                   bbox: Bbox = None,
                   alpha: Annotated[float | None, Query(
                       description="FDR level of the 95 % bin; bins use alpha/5, alpha, "
                                   "2·alpha")] = None) -> HotspotQuery:
    """Parameters of ``/hotspots``."""
    return hotspot_query(svc.settings, res, k, alpha, from_, to, category, source, bbox)


def emerging_params(svc: HotspotsDep, res: Res = None, k: Rings = None, from_: From = None,
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


def backtest_params(svc: HotspotsDep, res: Res = None, k: Rings = None,
                    train_from: str | None = None, train_to: str | None = None,
                    test_from: str | None = None, test_to: str | None = None,
                    top: Annotated[float, Query(description="share of cells, (0, 0.5]")] = 0.05,
                    method: Literal["gi", "count"] = "gi", category: Category = None,
                    source: Source = None, bbox: Bbox = None) -> BacktestQuery:
    """Parameters of ``/hotspots/backtest``."""
    return backtest_query(svc.settings, res, k, train_from, train_to, test_from, test_to, top,
                          method, category, source, bbox)


def heatmap_params(svc: HotspotsDep, res: Res = None,
                   bandwidth_m: Annotated[float | None, Query(
                       description="kernel radius in metres (default: rule)")] = None,
                   from_: From = None, to: To = None, category: Category = None,
                   source: Source = None, bbox: Bbox = None) -> HeatmapQuery:
    """Parameters of ``/heatmap``."""
    return heatmap_query(svc.settings, bandwidth_m, res, from_, to, category, source, bbox)


HotspotParams = Annotated[HotspotQuery, Depends(hotspot_params)]
EmergingParams = Annotated[EmergingQuery, Depends(emerging_params)]
BacktestParams = Annotated[BacktestQuery, Depends(backtest_params)]
HeatmapParams = Annotated[HeatmapQuery, Depends(heatmap_params)]


@router.get("/hotspots", responses=documented(HotspotCollection))
async def hotspots(request: Request, svc: HotspotsDep, q: HotspotParams,
                   significant_only: bool = False) -> Response:
    """Gi* hot and cold spots on H3 cells with BH-FDR bins (FeatureCollection)."""
    return await _answer(request, svc, analyses.hotspots, q, f"fc-{significant_only}",
                         lambda r: r.geojson_bytes(significant_only))


@router.get("/hotspots/emerging", responses=documented(EmergingCollection))
async def emerging(request: Request, svc: HotspotsDep, q: EmergingParams,
                   pattern_only: bool = False) -> Response:
    """Emerging hot spot category of every cell (FeatureCollection)."""
    return await _answer(request, svc, analyses.emerging, q, f"fc-{pattern_only}",
                         lambda r: r.geojson_bytes(pattern_only))


@router.get("/hotspots/backtest", responses=documented(Backtest))
async def backtest(request: Request, svc: HotspotsDep, q: BacktestParams) -> Response:
    """Hit rate, PAI and RRI of training-window hotspots on the test window."""
    return await _answer(request, svc, analyses.backtest, q, "json", lambda r: r.to_dict())


@router.get("/heatmap", responses=documented(HEATMAP))
async def heatmap(request: Request, svc: HotspotsDep, q: HeatmapParams,
                  format: Literal["points", "cells"] = "points") -> Response:
    """Quartic kernel density: ``[[lat, lon, density]]`` for Leaflet.heat, or H3 cells."""
    return await _answer(request, svc, analyses.heatmap, q, format,
                         lambda r: r.geojson() if format == "cells" else r.to_dict())

"""Request dependencies that read like prose: one small function per object the app holds.

Every object comes from the app's ``AppState`` (``api/state.py``), built once in the
app factory; nothing is made on first use here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from api.metrics import Metrics
from api.ogc.settings import OgcSettings
from api.state import AppState
from geo.cases.answers import CaseService
from geo.cases.table import CaseCache
from geo.coverage.gapstore import Refresher
from geo.coverage.settings import CoverageSettings
from geo.coverage.summary import ResultCache
from geo.dashboard.settings import DashboardSettings
from geo.gridplan.settings import GridPlanSettings
from geo.hotspots.runtime import HotspotService
from geo.response.context import ResponseCache
from geo.response.settings import ResponseSettings
from geo.response.warm import ResponseWarmer
from geo.settings import ServiceAreaSettings
from tiles.service import TileService


def get_state(request: Request) -> AppState:
    """The running app's state."""
    return request.app.state.onemap


StateDep = Annotated[AppState, Depends(get_state)]


def get_engine(state: StateDep) -> Engine:
    """The SQLAlchemy engine of the running app."""
    return state.engine


def get_area(state: StateDep) -> ServiceAreaSettings:
    """The service area (bbox, metric EPSG)."""
    return state.area


def get_hotspots(state: StateDep) -> HotspotService:
    """The hotspot analyses' caches and gate."""
    return state.hotspots


async def get_tiles(state: StateDep) -> TileService:
    """The tile service (cache, layer versions, renderer), listening from the first request on."""
    if not state.tiles.versions.started:
        await state.tiles.start()
    return state.tiles


def get_coverage_settings(state: StateDep) -> CoverageSettings:
    """Coverage settings."""
    return state.coverage_settings


def get_coverage_cache(state: StateDep) -> ResultCache:
    """The cache of computed coverage figures and gaps."""
    return state.coverage_cache


def get_gaps_refresher(state: StateDep) -> Refresher:
    """The background refresher of stored coverage gaps."""
    return state.gaps_refresher


def get_response_settings(state: StateDep) -> ResponseSettings:
    """Response-circle settings."""
    return state.response_settings


def get_response_cache(state: StateDep) -> ResponseCache:
    """Loaded graphs and reach matrices (keyed by layer versions)."""
    return state.response_cache


def get_response_answers(state: StateDep) -> ResponseCache:
    """Kept area answers (keyed by the versions and posts they were drawn from)."""
    return state.response_answers


def get_response_warmer(state: StateDep) -> ResponseWarmer:
    """The background warmer of the response caches."""
    return state.response_warmer


def get_cases(state: StateDep) -> CaseService:
    """The case-flow answers (cases in memory, computed indexes)."""
    return state.cases


def get_case_cache(state: StateDep) -> CaseCache:
    """The cases in memory."""
    return state.cases.cases


def get_grid_settings(state: StateDep) -> GridPlanSettings:
    """Grid-planning settings."""
    return state.grid_settings


def get_ogc_settings(state: StateDep) -> OgcSettings:
    """OGC API Features settings."""
    return state.ogc_settings


def get_dashboard_settings(state: StateDep) -> DashboardSettings:
    """Command-centre screen settings."""
    return state.dashboard_settings


def get_metrics(state: StateDep) -> Metrics:
    """The app's Prometheus metrics."""
    return state.metrics


EngineDep = Annotated[Engine, Depends(get_engine)]
AreaDep = Annotated[ServiceAreaSettings, Depends(get_area)]
HotspotsDep = Annotated[HotspotService, Depends(get_hotspots)]
TilesDep = Annotated[TileService, Depends(get_tiles)]
CoverageSettingsDep = Annotated[CoverageSettings, Depends(get_coverage_settings)]
CoverageCacheDep = Annotated[ResultCache, Depends(get_coverage_cache)]
GapsRefresherDep = Annotated[Refresher, Depends(get_gaps_refresher)]
ResponseSettingsDep = Annotated[ResponseSettings, Depends(get_response_settings)]
ResponseCacheDep = Annotated[ResponseCache, Depends(get_response_cache)]
ResponseAnswersDep = Annotated[ResponseCache, Depends(get_response_answers)]
ResponseWarmerDep = Annotated[ResponseWarmer, Depends(get_response_warmer)]
CasesDep = Annotated[CaseService, Depends(get_cases)]
CaseCacheDep = Annotated[CaseCache, Depends(get_case_cache)]
GridSettingsDep = Annotated[GridPlanSettings, Depends(get_grid_settings)]
OgcSettingsDep = Annotated[OgcSettings, Depends(get_ogc_settings)]
DashboardSettingsDep = Annotated[DashboardSettings, Depends(get_dashboard_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]

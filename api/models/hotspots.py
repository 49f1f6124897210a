"""Answers of the hotspot routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.models.base import Answer
from api.models.geojson import FeatureCollection

Parameters = dict[str, Any]


class HotspotCollection(FeatureCollection):
    """Gi* cells (properties: h3, count, gi_z, p_value, bin, class)."""

    parameters: Parameters = Field(description="the parameters used, with data_version")
    summary: dict[str, int] = Field(description="cells per class")


class EmergingCollection(FeatureCollection):
    """Emerging hot spot category per cell (properties: h3, category, trend_z, …)."""

    parameters: Parameters = Field(description="the parameters used, with data_version")
    summary: dict[str, int] = Field(description="cells per category")


class Backtest(Answer):
    """Hit rate, PAI and RRI of training-window hotspots on the test window."""

    hit_rate: float | None = Field(description="share of test incidents in the hotspots")
    pai: float | None = Field(description="predictive accuracy index")
    rri: float | None = Field(description="recapture rate index")
    area_share: float | None = Field(description="share of the study area flagged")
    hotspot_cells: int
    train_incidents: int
    test_incidents: int
    train_in_hotspots: int
    test_in_hotspots: int
    cells: list[dict[str, Any]] = Field(description="the hotspot cells")
    parameters: Parameters


class HeatmapPoints(Answer):
    """Density at H3 cell centres as ``[lat, lon, density]`` (Leaflet.heat)."""

    type: Literal["heatmap"]
    max: float = Field(description="largest density")
    unit: str = Field(description="incidents/km²")
    points: list[list[float]] = Field(description="[lat, lon, density] per cell")
    parameters: Parameters


class HeatmapCells(FeatureCollection):
    """Density per H3 cell (properties: h3, density)."""

    parameters: Parameters


class Heatmap(Answer):
    """``format=points``: :class:`HeatmapPoints`; ``format=cells``: :class:`HeatmapCells`."""


HEATMAP = HeatmapPoints | HeatmapCells

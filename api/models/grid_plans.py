"""Answers of the grid plan routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.models.base import Answer, Rows
from api.models.geojson import FeatureCollection


class Plan(Answer):
    """A grid plan with its grid and household counts."""

    id: int
    name: str
    status: str = Field(description="draft, active or archived")
    parent_id: int | None = Field(description="the plan it was copied from")
    author: str | None
    note: str | None
    version: int = Field(description="bumped by every change (the ETag)")
    created_at: str | None
    published_at: str | None
    grids: int
    households: int


class PlanDetail(Plan):
    """One plan; also its building count."""

    buildings: int


class PlanChange(Answer):
    """One recorded change of a plan."""

    version: int
    actor: str | None
    at: str
    kind: str
    detail: Any = Field(description="what changed (by kind)")


class Evaluation(Answer):
    """A plan evaluated per grid and in total."""

    plan: int
    version: int
    status: str
    metric_epsg: int = Field(description="the metric CRS of areas and lengths")
    summary: dict[str, Any] = Field(description="totals: band, deviation, contiguity, …")
    communities: Rows
    infeasible: Rows = Field(description="communities no plan can balance")
    undecided: Rows
    grids: Rows | None = Field(None, description="per grid (grids=true)")


class GridCollection(FeatureCollection):
    """The plan's grids (properties: code, households, deviation, within_band, …)."""

    plan: int
    band: list[float] = Field(description="[low, high] households per grid")


class BuildingCollection(FeatureCollection):
    """Buildings as points with their grid code in the plan."""

    plan: int


class Redistricted(Answer):
    """What a redistricting did."""

    plan: int
    version: int
    target: int
    tolerance: float
    band: list[float]
    grids: int
    feasible_grids: int
    within_band: int
    within_band_share: float | None = Field(description=(
        "share of the feasible grids within the band; null when no grid is feasible"))
    infeasible: Rows
    undecided: Rows
    undecided_grids: int
    seconds: float
    communities: Rows


class Edited(Answer):
    """The new version and the evaluation of the touched grids."""

    plan: int
    version: int
    op: str
    touched: list[str] = Field(description="codes of the grids the edit touched")
    evaluation: dict[str, Any]


class PlanDiff(Answer):
    """Plan ``b`` against plan ``a``."""

    a: int
    b: int
    added: list[Any]
    removed: list[Any]
    changed: list[Any]
    unchanged: int
    buildings_moved: int
    households_moved: int
    moves: list[Any]
    moves_truncated: bool
    layer: FeatureCollection = Field(description="grids that changed, as a layer")


class Overlay(Answer):
    """多网合一: another department's layer against the plan."""

    plan: int
    summary: dict[str, Any]
    layer: FeatureCollection

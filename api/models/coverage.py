"""Answers of the coverage routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.models.base import Answer
from api.models.geojson import FeatureCollection


class CoverageWindow(Answer):
    """The incident window of the figures."""

    from_: str | None = Field(alias="from", description="start, ISO 8601")
    to: str | None = Field(description="end, ISO 8601")
    days: int | None = Field(description="length in days")


class CoverageSummary(Answer):
    """Coverage per unit of ``level``, overall and per camera class."""

    level: str
    window: CoverageWindow
    cameras: dict[str, Any] = Field(description="totals by status and class")
    blocked: list[Any] = Field(description="cameras whose view is empty")
    units: list[dict[str, Any]] = Field(description="figures per unit")
    versions: dict[str, int] = Field(description="layer versions the figures were drawn from")


class GapCollection(FeatureCollection):
    """Uncovered public ground, best first (properties: area_m2, incidents, priority, …)."""

    min_area_m2: float
    window_days: int | None
    stale: bool | None = Field(None, description="stored gaps (default window) only: true "
                                                 "while they are being recomputed")


class CoverageShare(Answer):
    """Demand covered."""

    covered: float
    total: float
    share: float | None


class CurvePoint(Answer):
    """Coverage after ``cameras`` new cameras."""

    cameras: int
    covered: float
    share: float | None


class CameraSiting(Answer):
    """``k`` proposed cameras and the coverage curve."""

    k: int
    weight: str
    method: str
    seconds: float | None = None
    baseline: CoverageShare
    curve: list[CurvePoint]
    sites: FeatureCollection = Field(description="the proposed cameras")


class RefreshReport(Answer):
    """What a full refresh of the camera views did."""

    cameras: int
    views: int
    blocked: int
    removed: int
    seconds: float

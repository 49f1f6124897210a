"""Answers of the response-circle routes (应急处置圈)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.models.base import Answer
from api.models.geojson import FeatureCollection


class ReachAreas(FeatureCollection):
    """Areas reached within each break (properties: post, minutes, households, …)."""

    parameters: dict[str, Any] = Field(description="minutes, mode, overlap, posts, …")


class ReachWindow(Answer):
    """The incident window of the figures."""

    from_: str = Field(alias="from")
    to: str
    incidents_read_at: str | None = Field(description="when the incidents were last read")
    incidents_stale: bool


class ReachSummary(Answer):
    """Households, population, key places and incidents reached per unit and break."""

    level: str
    mode: str
    minutes: list[float]
    window: ReachWindow
    posts: int
    units: list[dict[str, Any]] = Field(description="totals and ``reached`` per break")
    unreached: FeatureCollection = Field(description="ground no post reaches in time")


class NearestPosts(FeatureCollection):
    """The k fastest posts, with seconds, metres and the route (LineString)."""

    parameters: dict[str, Any]


class PostCurvePoint(Answer):
    """What ``posts`` new posts reach."""

    posts: int
    reached: float
    share: float | None


class PostSiting(FeatureCollection):
    """``k`` proposed posts (points) and the coverage curve."""

    parameters: dict[str, Any]
    curve: list[PostCurvePoint]
    total: float

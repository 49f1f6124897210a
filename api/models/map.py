"""Answers of the small JSON routes the map page reads."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.models.base import Answer, Rows


class Label(Answer):
    """A label point of a district, street or community."""

    code: str
    name: str | None
    level: str
    lon: float
    lat: float


class ViewCount(Answer):
    """Incidents in the view and window."""

    incidents: int
    from_: str = Field(alias="from")
    to: str


class AreaStats(Answer):
    """Statistics by area for the screen's table."""

    level: str
    from_: str = Field(alias="from")
    to: str
    count: int
    units: Rows


class Period(Answer):
    """A comparison window and its change."""

    from_: str = Field(alias="from")
    to: str
    total: int
    change: float | None


class Trends(Answer):
    """Incidents per day or week by category or source, with 环比 and 同比."""

    step: str
    by: str
    timezone: str
    from_: str = Field(alias="from")
    to: str
    buckets: list[str]
    series: dict[str, list[int]] = Field(description="counts per bucket, per category or source")
    total: int
    previous: Period
    year_ago: Period


class SearchHit(Answer):
    """A place to fly to."""

    kind: str
    id: int | str | None = None
    code: str | None = None
    name: str | None = None
    lon: float | None = None
    lat: float | None = None
    bbox: list[float] | None = None


class Search(Answer):
    """What matched the query."""

    query: str
    hits: list[SearchHit]


class Record(Answer):
    """One row found by the search."""

    kind: str
    id: int
    fields: dict[str, Any]

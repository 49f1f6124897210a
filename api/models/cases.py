"""Answers of the case-flow routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.models.base import Answer
from api.models.geojson import FeatureCollection


class CaseChange(Answer):
    """One recorded change of a case."""

    changed_at: str
    actor: str | None
    field: str
    old: Any
    new: Any


class Case(Answer):
    """A case's current fields and its history, oldest change first."""

    history: list[CaseChange]


class UnitFigures(Answer):
    """Figures of one unit (and ``group`` with ``by``)."""

    code: str
    name: str | None
    received: int
    done: int
    closure_rate: float | None
    on_time_rate: float | None
    median_hours: float | None
    p90_hours: float | None
    overdue_open: int
    satisfaction_rate: float | None
    reopen_rate: float | None
    from_110_share: float | None


class CaseWindow(Answer):
    """The window as asked."""

    from_: str | None = Field(alias="from")
    to: str | None


class CaseSummary(Answer):
    """Received, done and rates per unit of ``level``."""

    level: str
    by: str | None
    units: list[UnitFigures]
    method: str = Field(description="how the figures are computed")
    window: CaseWindow
    at: str


class LightCounts(Answer):
    """Open cases per light in one unit."""

    code: str
    name: str | None
    red: int
    yellow: int
    green: int


class DepartmentLights(Answer):
    """Open cases per light in one department."""

    department: str | None
    red: int
    yellow: int
    green: int


class OpenCases(FeatureCollection):
    """Open cases, red first (properties: light, hours_past_limit, …)."""

    numberMatched: int  # noqa: N815
    numberReturned: int  # noqa: N815


class Warnings(Answer):
    """Open cases lit red / yellow / green at ``at``."""

    level: str
    at: str
    units: list[LightCounts]
    by_department: list[DepartmentLights]
    cases: OpenCases
    method: str


class UnitRepeats(Answer):
    """Repeat rate of one unit."""

    code: str
    name: str | None
    received: int
    repeats: int
    repeat_rate: float | None


class Repeats(Answer):
    """Repeat complaints and repeat rates per unit."""

    level: str
    radius_m: float
    days: float
    units: list[UnitRepeats]
    repeats: int
    links: list[dict[str, Any]] = Field(description="each repeat with the case it repeats")
    method: str


class SafetyIndex(FeatureCollection):
    """平安指数 per unit (properties: index, rank, change, level, components)."""

    level: str
    period: str
    previous: str
    weights: dict[str, float]
    left_out: dict[str, str] = Field(description="components left out, and why")
    method: str

"""Settings of the case flow and the 平安指数 (``ONEMAP_CASE_*``, ``ONEMAP_INDEX_*``)."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from geo.settings import LocalTimeSettings
from geo.settings_base import concern, number_map
from geo.vocabulary import CATEGORIES

DEFAULT_LIMITS = {"hazard": 24.0, "public_order": 24.0, "dispute": 72.0, "others": 120.0}
DEFAULT_SEVERITY = {"public_order": 3.0, "hazard": 3.0, "dispute": 2.0, "petition": 2.0,
                    "livelihood": 1.0, "city_management": 1.0, "other": 1.0}
DEFAULT_WEIGHTS = {"incidents": 0.40, "overdue": 0.20, "satisfaction": 0.15,
                   "cameras": 0.15, "repeats": 0.10, "response": 0.10}
COMPONENTS = tuple(DEFAULT_WEIGHTS)


class CaseSettings(LocalTimeSettings):
    """Time limits of the case flow.

    Periods (months, ISO weeks) and times given without an offset are in
    ``local_timezone``, the one zone setting (inherited from ``LocalTimeSettings``).
    """

    model_config = concern("CASE")

    limits: dict[str, float] = Field(
        default_factory=dict,
        description="JSON hours per category for cases without due_at, e.g. "
                    '{"hazard": 12}; merged over the defaults hazard 24, public_order 24, '
                    'dispute 72, others 120 ("others": every other category)')
    incremental_share: float = Field(
        0.2, ge=0, le=1,
        description="after a change of the incidents, read again only the changed rows while "
                    "they are at most this share of all rows (else read everything)")

    warm_up: bool = Field(
        True, description="read the cases and link their repeat complaints in a background "
                          "thread when the app starts, so the first answer does not wait")

    @field_validator("limits")
    @classmethod
    def _known(cls, v: dict) -> dict:
        return number_map(v, (*CATEGORIES, "others"), "category")

    @property
    def timezone(self) -> str:
        """The local time zone (``local_timezone``)."""
        return self.local_timezone

    def hours(self) -> dict[str, float]:
        """Hours allowed per category (every category named)."""
        merged = {**DEFAULT_LIMITS, **self.limits}
        return {c: merged.get(c, merged["others"]) for c in CATEGORIES}


class IndexSettings(BaseSettings):
    """Weights of the 平安指数 and of its risk levels."""

    model_config = concern("INDEX")

    weights: dict[str, float] = Field(
        default_factory=dict,
        description="JSON weights of the components (incidents, overdue, satisfaction, "
                    "cameras, repeats, response), merged over the defaults "
                    "0.40/0.20/0.15/0.15/0.10/0.10 and rescaled to sum 1 over the components "
                    "with figures at the level")
    severity: dict[str, float] = Field(
        default_factory=dict,
        description="JSON weight per category (and 'petition' for the source) in the "
                    "severity-weighted incident rate; defaults public_order 3, hazard 3, "
                    "dispute 2, petition 2, others 1")
    worsening: float = Field(5.0, ge=0, description="index points lost since the previous "
                             "period that count as worsening (raises the level one step)")

    @field_validator("weights", "severity")
    @classmethod
    def _known_keys(cls, v: dict, info: ValidationInfo) -> dict:
        if info.field_name == "weights":
            return number_map(v, COMPONENTS, "component")
        return number_map(v, (*CATEGORIES, "petition"), "category")

    def merged_weights(self, override: dict[str, float] | None = None) -> dict[str, float]:
        """Weights summing to 1 (``override`` from a request wins)."""
        w = {**DEFAULT_WEIGHTS, **self.weights, **(override or {})}
        total = sum(w.values())
        if total <= 0:
            raise ValueError("the weights sum to 0")
        return {k: v / total for k, v in w.items()}

    def merged_severity(self) -> dict[str, float]:
        """Severity per category and for petitions."""
        return {**DEFAULT_SEVERITY, **self.severity}

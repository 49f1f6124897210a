"""Settings of the case flow and the 平安指数 (``ONEMAP_CASE_*``, ``ONEMAP_INDEX_*``)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.vocabulary import CATEGORIES

DEFAULT_LIMITS = {"hazard": 24.0, "public_order": 24.0, "dispute": 72.0, "others": 120.0}
DEFAULT_SEVERITY = {"public_order": 3.0, "hazard": 3.0, "dispute": 2.0, "petition": 2.0,
                    "livelihood": 1.0, "city_management": 1.0, "other": 1.0}
DEFAULT_WEIGHTS = {"incidents": 0.40, "overdue": 0.20, "satisfaction": 0.15,
                   "cameras": 0.15, "repeats": 0.10, "response": 0.10}
COMPONENTS = tuple(DEFAULT_WEIGHTS)


def _positive_map(value: dict, allowed: tuple[str, ...], what: str) -> dict[str, float]:
    out = {}
    for key, hours in dict(value).items():
        if key not in allowed:
            raise ValueError(f"unknown {what} {key!r}; known: {', '.join(allowed)}")
        if not isinstance(hours, int | float) or isinstance(hours, bool) or hours < 0:
            raise ValueError(f"{what} {key!r} must be a number ≥ 0, not {hours!r}")
        out[key] = float(hours)
    return out


class CaseSettings(BaseSettings):
    """Time limits of the case flow."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_CASE_", extra="ignore")

    limits: dict[str, float] = Field(
        default_factory=dict,
        description="JSON hours per category for cases without due_at, e.g. "
                    '{"hazard": 12}; merged over the defaults hazard 24, public_order 24, '
                    'dispute 72, others 120 ("others": every other category)')
    timezone: str = Field("Asia/Shanghai", validation_alias="ONEMAP_LOCAL_TIMEZONE",
                          description="the service's local time (ONEMAP_LOCAL_TIMEZONE, the one "
                                      "zone setting): periods (months, ISO weeks) and times "
                                      "given without an offset")

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
        return _positive_map(v, (*CATEGORIES, "others"), "category")

    def hours(self) -> dict[str, float]:
        """Hours allowed per category (every category named)."""
        merged = {**DEFAULT_LIMITS, **self.limits}
        return {c: merged.get(c, merged["others"]) for c in CATEGORIES}


class IndexSettings(BaseSettings):
    """Weights of the 平安指数 and of its risk levels."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_INDEX_", extra="ignore")

    weights: dict[str, float] = Field(
        default_factory=dict,
        description="JSON weights of the components (incidents, overdue, satisfaction, "
                    "cameras, repeats, response), merged over the defaults "
                    "0.40/0.20/0.15/0.15/0.10/0 and rescaled to sum 1")
    severity: dict[str, float] = Field(
        default_factory=dict,
        description="JSON weight per category (and 'petition' for the source) in the "
                    "severity-weighted incident rate; defaults public_order 3, hazard 3, "
                    "dispute 2, petition 2, others 1")
    worsening: float = Field(5.0, ge=0, description="index points lost since the previous "
                             "period that count as worsening (raises the level one step)")

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, v: dict) -> dict:
        out = _positive_map(v, COMPONENTS, "component")
        return out

    @field_validator("severity")
    @classmethod
    def _known_severity(cls, v: dict) -> dict:
        return _positive_map(v, (*CATEGORIES, "petition"), "category")

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

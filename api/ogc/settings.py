"""Settings of the OGC API (``ONEMAP_OGC_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from geo.settings_base import concern


class OgcSettings(BaseSettings):
    """Paging and counting of items."""

    model_config = concern("OGC")

    default_limit: int = Field(100, ge=1, description=(
        "items per page when a request gives no limit"))
    max_limit: int = Field(10_000, ge=1, description=(
        "most items one page may hold (a larger limit is refused)"))
    exact_count_below: int = Field(200_000, ge=0, description=(
        "collections with fewer rows (by the planner's statistics) get an exact numberMatched; "
        "larger ones an estimate"))

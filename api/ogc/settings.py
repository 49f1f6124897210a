"""Settings of the OGC API (``ONEMAP_OGC_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OgcSettings(BaseSettings):
    """Paging and counting of items."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_OGC_", extra="ignore")

    default_limit: int = Field(100, ge=1)
    max_limit: int = Field(10_000, ge=1)
    # Tables with fewer rows (by statistics) get an exact numberMatched; larger ones an estimate.
    exact_count_below: int = Field(200_000, ge=0)

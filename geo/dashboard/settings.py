"""Settings of the command centre's figures."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    """Where days and weeks begin, and how many hits a search returns."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_DASHBOARD_", extra="ignore")

    timezone: str = Field("Asia/Shanghai",
                          description="IANA time zone whose midnights and Mondays start "
                                      "the trend buckets")
    search_limit: int = Field(12, ge=1, le=100, description="most hits one search returns")

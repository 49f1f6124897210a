"""Settings of the command centre's figures."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from geo.settings_base import concern


class DashboardSettings(BaseSettings):
    """How many hits a search returns (days and weeks begin in ONEMAP_LOCAL_TIMEZONE)."""

    model_config = concern("DASHBOARD")

    search_limit: int = Field(12, ge=1, le=100, description=(
        "most hits one search of the command centre returns"))

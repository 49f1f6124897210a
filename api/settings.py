"""Settings of the HTTP service (``ONEMAP_*``), validated at start."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """How the service listens and what it lets callers do."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    cors_origins: list[str] = []
    max_body_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    body_process_above_bytes: int = Field(
        1024 * 1024, ge=0,
        description="request bodies larger than this are decoded in a worker process (a "
                    "large decode holds the GIL and would stall other requests); smaller "
                    "ones in a worker thread")
    rate_limit_per_minute: int = Field(6000, ge=1)
    # Cells with fewer incidents than this are suppressed for the widget role.
    widget_min_count: int = Field(5, ge=1)
    # hide | coarsen | show: camera positions for the widget role.
    widget_cameras: str = Field("coarsen", pattern="^(hide|coarsen|show)$")
    # Base map: empty → our own light rendering; else an XYZ URL template.
    base_map_url: str = ""
    base_map_attribution: str = ""
    # wgs84 | gcj02: the datum of the base map; gcj02 shifts our layers to match.
    base_map_crs: str = Field("wgs84", pattern="^(wgs84|gcj02)$")
    language: str = Field("zh", pattern="^(zh|en)$")

"""Settings of the HTTP service (``ONEMAP_*``), validated at start."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.widget import CAMERA_MODES, WidgetRules


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
    auth_failures_per_minute: int = Field(
        30, ge=1,
        description="Failed authentications (401) a client address may make per minute before "
        "it is answered 429; counted per address, never against the key it claims.",
    )
    # Cells with fewer incidents than this are suppressed for the widget role.
    widget_min_count: int = Field(5, ge=1)
    # hide | coarsen | show: camera positions for the widget role.
    widget_cameras: str = Field("coarsen", pattern=f"^({'|'.join(CAMERA_MODES)})$")
    widget_time_days: int = Field(
        7, ge=1, le=366,
        description="Time windows of the widget role are widened to whole blocks of this many "
        "local days (ONEMAP_TILE_TIMEZONE; 7 = ISO weeks), and an aggregated cell counts only "
        "the blocks holding ONEMAP_WIDGET_MIN_COUNT incidents, so differencing two windows "
        "neither times an incident nor shows fewer than that many. 1 (whole days) hides most "
        "street-level cells where a cell sees a few incidents a day (bench/widget.py).",
    )
    # Base map: empty → our own light rendering; else an XYZ URL template.
    base_map_url: str = ""
    base_map_attribution: str = ""
    # wgs84 | gcj02: the datum of the base map; gcj02 shifts our layers to match.
    base_map_crs: str = Field("wgs84", pattern="^(wgs84|gcj02)$")
    language: str = Field("zh", pattern="^(zh|en)$")

    def widget_rules(self, camera_cell: float = 300.0,
                     timezone: str = "Asia/Shanghai") -> WidgetRules:
        """The widget role's rules (``geo.widget``) from these settings and the tile grid's."""
        return WidgetRules(min_count=self.widget_min_count, cameras=self.widget_cameras,
                           camera_cell=camera_cell, time_days=self.widget_time_days,
                           timezone=timezone)

"""Settings of the HTTP service (``ONEMAP_API_*``, ``ONEMAP_WIDGET_*``, ``ONEMAP_MAP_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from geo.settings_base import concern
from geo.widget import CAMERA_MODES, WidgetRules


class ApiSettings(BaseSettings):
    """How the service listens, what it lets callers do, and the map page's base map.

    The server's variables are ``ONEMAP_API_*``; the widget role's ``ONEMAP_WIDGET_*`` and
    the map page's ``ONEMAP_MAP_*``.
    """

    model_config = concern("API")

    host: str = Field("127.0.0.1", description=(
        "address `onemap serve` listens on; beyond loopback, every request needs an API key"))
    port: int = Field(8000, ge=1, le=65535, description="TCP port `onemap serve` listens on")
    cors_origins: list[str] = Field(default_factory=list, description=(
        "JSON list of origins allowed by CORS (browser pages on other sites); empty → none"))
    max_body_bytes: int = Field(20 * 1024 * 1024, ge=1024, description=(
        "largest request body accepted, in bytes (larger: 413)"))
    body_process_above_bytes: int = Field(
        1024 * 1024, ge=0,
        description="request bodies larger than this (bytes) are decoded in a worker process "
                    "(a large decode holds the GIL and would stall other requests); smaller "
                    "ones in a worker thread")
    rate_limit_per_minute: int = Field(6000, ge=1, description=(
        "requests a caller (API key, else client address) may make per minute before it is "
        "answered 429"))
    auth_failures_per_minute: int = Field(
        30, ge=1,
        description="failed authentications (401) a client address may make per minute before "
                    "it is answered 429; counted per address, never against the key it claims")
    widget_min_count: int = Field(
        5, ge=1, validation_alias="ONEMAP_WIDGET_MIN_COUNT",
        description="aggregated cells with fewer incidents than this are suppressed for the "
                    "widget role")
    widget_cameras: str = Field(
        "coarsen", pattern=f"^({'|'.join(CAMERA_MODES)})$",
        validation_alias="ONEMAP_WIDGET_CAMERAS",
        description="camera positions for the widget role: hide, coarsen (counts on a grid of "
                    "ONEMAP_TILE_WIDGET_CAMERA_CELL metres) or show")
    widget_time_days: int = Field(
        7, ge=1, le=366, validation_alias="ONEMAP_WIDGET_TIME_DAYS",
        description="time windows of the widget role are widened to whole blocks of this many "
                    "local days (ONEMAP_LOCAL_TIMEZONE; 7 = ISO weeks), and an aggregated cell "
                    "counts only the blocks holding ONEMAP_WIDGET_MIN_COUNT incidents, so "
                    "differencing two windows neither times an incident nor shows fewer than "
                    "that many; 1 (whole days) hides most street-level cells where a cell sees "
                    "a few incidents a day (bench/widget.py)",
    )
    base_map_url: str = Field("", validation_alias="ONEMAP_MAP_BASE_URL", description=(
        "XYZ URL template of the map page's base map; empty → the service's own light "
        "rendering"))
    base_map_attribution: str = Field(
        "", validation_alias="ONEMAP_MAP_BASE_ATTRIBUTION",
        description="attribution shown under the base map of ONEMAP_MAP_BASE_URL")
    base_map_crs: str = Field(
        "wgs84", pattern="^(wgs84|gcj02)$", validation_alias="ONEMAP_MAP_BASE_CRS",
        description="datum of the base map, wgs84 or gcj02; gcj02 shifts the service's layers "
                    "to match")
    language: str = Field("zh", pattern="^(zh|en)$", validation_alias="ONEMAP_MAP_LANGUAGE",
                          description="language of the map page: zh or en")

    def widget_rules(self, camera_cell: float = 300.0,
                     timezone: str = "Asia/Shanghai") -> WidgetRules:
        """The widget role's rules (``geo.widget``) from these settings and the tile grid's."""
        return WidgetRules(min_count=self.widget_min_count, cameras=self.widget_cameras,
                           camera_cell=camera_cell, time_days=self.widget_time_days,
                           timezone=timezone)

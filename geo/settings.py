"""Settings for the domain layer, read from ``ONEMAP_*`` environment variables.

Each concern has its own small class; nothing is read at import time. Build them
where they are needed (``DatabaseSettings()``) or pass them in from the app.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PREFIX = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore")


class DatabaseSettings(BaseSettings):
    """Where the database is.

    With no ``database_url`` the embedded cluster in ``pg_dir`` is used.
    """

    model_config = _PREFIX

    database_url: str | None = None
    data_dir: Path = Path("data")
    pg_dir: Path | None = None
    pg_port: int = Field(55432, ge=1024, le=65535)
    pg_user: str = "onemap"
    pg_database: str = "onemap"
    statement_timeout_ms: int = Field(30_000, ge=100)

    @property
    def cluster_dir(self) -> Path:
        """Folder of the embedded cluster."""
        return (self.pg_dir or self.data_dir / "pg").resolve()

    @property
    def embedded(self) -> bool:
        """True when the service manages its own PostGIS."""
        return not self.database_url


class ServiceAreaSettings(BaseSettings):
    """The area the service covers, for sanity checks and metric work."""

    model_config = _PREFIX

    # lon_min, lat_min, lon_max, lat_max; None → derived from admin areas.
    service_bbox: tuple[float, float, float, float] | None = None
    # Metres beyond the admin areas' extent before a point counts as "far outside".
    outside_tolerance_m: float = Field(5_000.0, ge=0)
    # EPSG code for metric work; None → UTM zone of the service area.
    metric_epsg: int | None = None
    # H3 resolution stored with every incident; coarser cells are derived in SQL.
    incident_h3_res: int = Field(12, ge=9, le=15)

    @field_validator("service_bbox")
    @classmethod
    def _bbox_in_range(cls, v: tuple[float, float, float, float] | None):
        if v is None:
            return v
        x0, y0, x1, y1 = v
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise ValueError("service_bbox must be lon_min,lat_min,lon_max,lat_max in degrees")
        return v


class LocalTimeSettings(BaseSettings):
    """The service's local time: what a time written without an offset means."""

    model_config = _PREFIX

    local_timezone: str = Field(
        "Asia/Shanghai",
        description="IANA zone of times given without an offset, in files and in every "
                    "query parameter (hotspots, tiles, OGC datetime, map summary), and of "
                    "week/month steps",
    )

    @field_validator("local_timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

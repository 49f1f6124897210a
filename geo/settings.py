"""Settings for the domain layer, read from ``ONEMAP_*`` environment variables.

Each concern has its own small class; nothing is read at import time. Build them
where they are needed (``DatabaseSettings()``) or pass them in from the app.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PREFIX = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore")
_ROLE = r"^[a-z_][a-z0-9_]{0,62}$"


class DatabaseSettings(BaseSettings):
    """Where the database is.

    With no ``database_url`` the embedded cluster in ``pg_dir`` is used.
    """

    model_config = _PREFIX

    database_url: str | None = Field(
        None, description="any PostGIS (SQLAlchemy or libpq URL); unset → the embedded cluster")
    data_dir: Path = Field(Path("data"), description="demo outputs and the embedded cluster "
                           "(``pg/``, passwords in ``pg.password`` and ``pg.superuser.password``)")
    pg_dir: Path | None = Field(None, description="folder of the embedded cluster "
                                "(default ``<data_dir>/pg``)")
    pg_port: int = Field(55432, ge=1024, le=65535, description=(
        "port of the embedded cluster on 127.0.0.1; when not set, the port the cluster was "
        "created with (``onemap db up --port auto`` picks a free one)"))
    pg_user: str = Field("onemap", pattern=_ROLE, description=(
        "the service's role in the embedded cluster (no superuser rights; owns the database)"))
    pg_superuser: str = Field("postgres", pattern=_ROLE, description=(
        "the embedded cluster's superuser (creates the service role and the extensions)"))
    pg_database: str = Field("onemap", description="database name in the embedded cluster")
    statement_timeout_ms: int = Field(30_000, ge=100, description=(
        "longest a statement may run, in ms (server side, and on the client for asyncpg)"))
    connect_timeout_s: float = Field(3.0, gt=0, le=60, description=(
        "longest wait for a new database connection (or a free pooled one), in seconds"))
    hang_probe_s: float = Field(2.5, gt=0, le=60, description=(
        "a call running longer than this makes the service check, with a fresh connection, "
        "whether the database still answers; if not, calls in flight end with 503"))

    @property
    def cluster_dir(self) -> Path:
        """Folder of the embedded cluster."""
        return (self.pg_dir or self.data_dir / "pg").resolve()

    @property
    def embedded(self) -> bool:
        """True when the service manages its own PostGIS."""
        return not self.database_url

    def __repr_args__(self):
        """As pydantic's, with the URL's password masked (reprs reach logs and test output).

        Examples
        --------
        >>> "secret" in repr(DatabaseSettings(database_url="postgresql://u:secret@h/db"))
        False
        """
        for name, value in super().__repr_args__():
            if name == "database_url" and value:
                value = _mask_password(value)
            yield name, value


def _mask_password(url: str) -> str:
    """``scheme://user:***@host…`` (unchanged when the URL holds no password)."""
    import re

    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url, count=1)


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

"""Settings of the domain layer: the database, the service area and the local time.

Each concern has its own small class; nothing is read at import time. Build them
where they are needed (``DatabaseSettings()``) or pass them in from the app. The variable
names follow ``geo.settings_base`` (``ONEMAP_<CONCERN>_<NAME>``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from geo.settings_base import concern, known_zone

_ROLE = r"^[a-z_][a-z0-9_]{0,62}$"


class DatabaseSettings(BaseSettings):
    """Where the database is.

    With no ``database_url`` the embedded cluster in ``pg_dir`` is used.
    """

    model_config = concern()

    database_url: str | None = Field(
        None, json_schema_extra={"secret": True},
        description="any PostGIS database, as a SQLAlchemy or libpq URL (it may hold a "
                    "password); unset → the embedded cluster")
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
    pg_bindir: Path | None = Field(None, description=(
        "folder holding initdb, pg_ctl, pg_dump; unset → the newest PostgreSQL under "
        "/usr/lib/postgresql, version 15 first"))
    statement_timeout_ms: int = Field(
        30_000, ge=100, validation_alias="ONEMAP_DB_STATEMENT_TIMEOUT_MS", description=(
            "longest a statement may run, in ms (server side, and on the client for asyncpg)"))
    connect_timeout_s: float = Field(
        3.0, gt=0, le=60, validation_alias="ONEMAP_DB_CONNECT_TIMEOUT_S", description=(
            "longest wait for a new database connection (or a free pooled one), in seconds"))
    hang_probe_s: float = Field(
        2.5, gt=0, le=60, validation_alias="ONEMAP_DB_HANG_PROBE_S", description=(
            "seconds: a call running longer makes the service check, with a fresh connection, "
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

    model_config = concern("AREA")

    service_bbox: tuple[float, float, float, float] | None = Field(
        None, validation_alias="ONEMAP_AREA_BBOX",
        description="the service area as lon_min,lat_min,lon_max,lat_max in degrees (JSON "
                    "list); unset → the extent of the loaded admin areas")
    outside_tolerance_m: float = Field(
        5_000.0, ge=0, description="metres beyond the admin areas' extent before a point "
                                   "counts as far outside the service area (refused on import)")
    metric_epsg: int | None = Field(
        None, description="EPSG code of the projected CRS for areas, lengths and buffers; "
                          "unset → the UTM zone of the service area")
    incident_h3_res: int = Field(
        12, ge=9, le=15, validation_alias="ONEMAP_INCIDENT_H3_RES",
        description="H3 resolution stored with every incident; coarser cells are derived "
                    "from it in SQL")

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
    """The service's local time: what a time written without an offset means.

    The one zone setting: the settings of other concerns that need the zone (hotspots,
    tiles, cases, ingest) inherit this field and its check.
    """

    model_config = concern()

    local_timezone: str = Field(
        "Asia/Shanghai", validation_alias="ONEMAP_LOCAL_TIMEZONE",
        description="IANA zone of times given without an offset, in files and in every "
                    "query parameter (hotspots, tiles, OGC datetime, map summary, cases), and "
                    "of day/week/month steps",
    )

    @field_validator("local_timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        return known_zone(v)

"""Database URLs in the forms each driver wants."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy.engine import URL, make_url

from geo.db import cluster
from geo.settings import DatabaseSettings


def sqlalchemy_url(settings: DatabaseSettings, database: str | None = None) -> URL:
    """SQLAlchemy URL (psycopg 3 driver) of the configured database."""
    if settings.database_url:
        url = make_url(settings.database_url)
        if url.drivername in (
            "postgresql",
            "postgres",
            "postgresql+psycopg2",
            "postgresql+asyncpg",
        ):
            url = url.set(drivername="postgresql+psycopg")
    else:
        url = URL.create(
            "postgresql+psycopg",
            username=settings.pg_user,
            password=cluster.cluster_password(settings),
            host="127.0.0.1",
            port=cluster.port(settings),
            database=settings.pg_database,
        )
    if database:
        url = url.set(database=database)
    return url


def url_string(url: URL) -> str:
    """The URL with its password, as text (``onemap db url`` prints this)."""
    return url.render_as_string(hide_password=False)


def libpq_url(settings: DatabaseSettings, database: str | None = None) -> str:
    """``postgresql://`` URL for asyncpg, psql and pg_dump."""
    url = sqlalchemy_url(settings, database)
    pw = quote(url.password or "", safe="")
    auth = f"{quote(url.username or '', safe='')}:{pw}@" if url.username else ""
    port = f":{url.port}" if url.port else ""
    return f"postgresql://{auth}{url.host or '127.0.0.1'}{port}/{url.database}"

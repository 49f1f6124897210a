"""SQLAlchemy engines. Built on demand from settings; nothing global."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, text

from geo.db.urls import sqlalchemy_url
from geo.settings import DatabaseSettings


def make_engine(settings: DatabaseSettings, **kwargs) -> Engine:
    """An engine on the configured database with a statement timeout and fast failure."""
    connect_args = {
        "connect_timeout": max(2, round(settings.connect_timeout_s)),  # libpq: whole seconds
        "options": f"-c statement_timeout={settings.statement_timeout_ms}",
        "application_name": "onemap",
    }
    connect_args.update(kwargs.pop("connect_args", {}))
    return create_engine(
        sqlalchemy_url(settings),
        pool_pre_ping=True,
        pool_timeout=kwargs.pop("pool_timeout", settings.connect_timeout_s),
        pool_size=kwargs.pop("pool_size", 5),
        max_overflow=kwargs.pop("max_overflow", 10),
        connect_args=connect_args,
        **kwargs,
    )


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None when unmigrated."""
    with engine.connect() as conn:
        has = conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar()
        if not has:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

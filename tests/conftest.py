"""Shared fixtures: a real PostGIS (the embedded cluster or ONEMAP_DATABASE_URL),
a fresh migrated database per test session, apps and clients built per test.

The suite fails, never skips, when it cannot start a database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text

from geo.db import cluster, migrate
from geo.db.engine import make_engine
from geo.db.urls import libpq_url, sqlalchemy_url, url_string
from geo.settings import DatabaseSettings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

DATA_TABLES = [
    "plan_edits", "audit_log", "coverage_gaps", "camera_views", "incidents", "grid_members",
    "grids", "grid_plans", "buildings", "cameras", "roads", "waterways", "places", "admin_areas",
    "api_keys",
]


def _server_settings() -> DatabaseSettings:
    """Settings of the server the suite uses (embedded by default)."""
    settings = DatabaseSettings(data_dir=ROOT / "data")
    if settings.embedded:
        try:
            cluster.start(settings)
        except Exception as exc:  # fail loudly: no database, no test run
            pytest.exit(f"cannot start the embedded PostGIS: {exc}", returncode=3)
    return settings


def create_database(server: DatabaseSettings, name: str) -> DatabaseSettings:
    """Create a fresh migrated database on the server; settings that point at it."""
    admin = libpq_url(server, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = url_string(sqlalchemy_url(server, name))
    with psycopg.connect(libpq_url(server, name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    settings = DatabaseSettings(database_url=url, data_dir=ROOT / "data")
    migrate.upgrade(settings)
    return settings


def drop_database(server: DatabaseSettings, name: str) -> None:
    """Drop a test database (closing other sessions on it)."""
    with psycopg.connect(libpq_url(server, "postgres"), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def pg_server() -> DatabaseSettings:
    """The PostGIS server of this run."""
    return _server_settings()


@pytest.fixture(scope="session")
def db_settings(pg_server: DatabaseSettings) -> Iterator[DatabaseSettings]:
    """A fresh, migrated database for this session (dropped afterwards)."""
    name = f"onemap_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    settings = create_database(pg_server, name)
    yield settings
    drop_database(pg_server, name)


@pytest.fixture(scope="session")
def engine(db_settings: DatabaseSettings) -> Iterator[Engine]:
    """SQLAlchemy engine on the session database."""
    eng = make_engine(db_settings)
    yield eng
    eng.dispose()


@pytest.fixture()
def empty_db(engine: Engine) -> Engine:
    """The session database with every data table emptied before the test."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture()
def db_env(db_settings: DatabaseSettings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for subprocesses (the CLI) pointing at the session database."""
    assert db_settings.database_url
    monkeypatch.setenv("ONEMAP_DATABASE_URL", db_settings.database_url)
    env = dict(os.environ)
    env["ONEMAP_DATABASE_URL"] = db_settings.database_url
    return env


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: database and browser tests must run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; skips are failures here", red=True)
        session.exitstatus = 1

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
    "api_keys", "posts", "response_edges", "response_network", "response_areas",
    "incident_history", "safety_index",
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
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
    settings = DatabaseSettings(database_url=url, data_dir=ROOT / "data")
    migrate.upgrade(settings)
    return settings


def drop_database(server: DatabaseSettings, name: str) -> None:
    """Drop a test database (closing other sessions on it).

    Only client sessions are closed here: an autovacuum worker busy on the database (after
    a large load) belongs to no role, and a role that is not a superuser may not signal
    it; ``DROP DATABASE`` stops such workers itself.
    """
    with psycopg.connect(libpq_url(server, "postgres"), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[DatabaseSettings]:
    """The PostGIS server of this run; an embedded cluster the run started is stopped after."""
    before = DatabaseSettings(data_dir=ROOT / "data")
    started = before.embedded and not cluster.status(before).running
    settings = _server_settings()
    yield settings
    if started:
        cluster.stop(settings)


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


# --- demo city fixtures ------------------------------------------------------------------
# ``small_demo`` / ``city_demo`` are shared and READ-ONLY by convention; tests that write use
# ``small_demo_copy`` (a fresh database cloned from a pristine template nobody connects to).


def _demo_database(server: DatabaseSettings, size: str, truth_dir: Path):
    """A new database loaded with the demo ``size`` (seed 42); (settings, name, load)."""
    from geo.demo import DemoSettings, load_demo

    name = f"onemap_demo_{size}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    settings = create_database(server, name)
    eng = make_engine(settings)
    try:
        loaded = load_demo(eng, size, 42, progress=False, data_dir=truth_dir,
                           settings=DemoSettings.from_env())
    finally:
        eng.dispose()
    return settings, name, loaded


def clone_database(server: DatabaseSettings, template: str, name: str) -> DatabaseSettings:
    """``CREATE DATABASE name TEMPLATE template``; settings that point at the copy."""
    with psycopg.connect(libpq_url(server, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    url = url_string(sqlalchemy_url(server, name))
    return DatabaseSettings(database_url=url, data_dir=ROOT / "data")


@pytest.fixture(scope="session")
def _small_demo_template(pg_server: DatabaseSettings, tmp_path_factory: pytest.TempPathFactory):
    """The pristine small demo database (never connected to after loading) and its city."""
    settings, name, loaded = _demo_database(pg_server, "small", tmp_path_factory.mktemp("demo"))
    yield name, loaded
    drop_database(pg_server, name)


@pytest.fixture(scope="session")
def small_demo(pg_server: DatabaseSettings, _small_demo_template) -> Iterator[DatabaseSettings]:
    """A database holding the small demo city (seed 42). Shared: do not write to it."""
    template, _ = _small_demo_template
    name = f"{template}_ro"
    settings = clone_database(pg_server, template, name)
    yield settings
    drop_database(pg_server, name)


@pytest.fixture(scope="session")
def small_demo_city(_small_demo_template):
    """The generated small demo (``geo.demo.DemoCity``: frames in EPSG:4326 + ``truth``)."""
    return _small_demo_template[1].city


@pytest.fixture(scope="session")
def small_demo_truth(_small_demo_template) -> dict:
    """The small demo's ground truth (the content of ``ground_truth.json``)."""
    import json

    return json.loads(_small_demo_template[1].truth_path.read_text(encoding="utf-8"))


@pytest.fixture()
def small_demo_copy(pg_server: DatabaseSettings,
                    _small_demo_template) -> Iterator[DatabaseSettings]:
    """A private copy of the small demo database for one test (dropped afterwards)."""
    template, _ = _small_demo_template
    name = f"{template}_{uuid.uuid4().hex[:8]}"
    settings = clone_database(pg_server, template, name)
    yield settings
    drop_database(pg_server, name)


@pytest.fixture(scope="session")
def _city_demo_db(pg_server: DatabaseSettings, tmp_path_factory: pytest.TempPathFactory):
    settings, name, loaded = _demo_database(pg_server, "city", tmp_path_factory.mktemp("demo"))
    yield settings, loaded
    drop_database(pg_server, name)


@pytest.fixture(scope="session")
def city_demo(_city_demo_db) -> DatabaseSettings:
    """A database holding the city demo (seed 42), built once per session. Read-only."""
    return _city_demo_db[0]


@pytest.fixture(scope="session")
def city_demo_truth(_city_demo_db) -> dict:
    """The city demo's ground truth (the content of ``ground_truth.json``)."""
    import json

    return json.loads(_city_demo_db[1].truth_path.read_text(encoding="utf-8"))


# --- markers: what a test needs ----------------------------------------------------------
# A test is marked by the fixtures it reaches (``item.fixturenames`` is the whole closure, so a
# module fixture built on ``small_demo`` counts too); tests that need a server or a browser
# without such a fixture carry the mark explicitly. ``pytest -m "not db and not browser"`` then
# runs on a machine with neither PostgreSQL nor Chromium.

DB_FIXTURES = frozenset({"pg_server"})
BROWSER_FIXTURES = frozenset({"browser", "page"})
SLOW_FIXTURES = frozenset({"_city_demo_db", "dask_cluster"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add ``db``, ``browser`` and ``slow`` to each test by the fixtures it uses."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & DB_FIXTURES:
            item.add_marker(pytest.mark.db)
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: database and browser tests must run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; skips are failures here", red=True)
        session.exitstatus = 1


# --- Dask (batch analyses) ----------------------------------------------------------------


@pytest.fixture(scope="session")
def dask_cluster():
    """A real ``dask.distributed`` scheduler with two worker processes (not threads)."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           memory_limit="1GiB", dashboard_address=None)
    yield cluster
    cluster.close()

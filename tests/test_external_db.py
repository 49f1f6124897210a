"""The suite and the CLI work against a second, separately started PostGIS given by URL,
and the embedded cluster commands (up/status/down) manage a cluster of their own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from geo.db import cluster
from geo.db.urls import sqlalchemy_url, url_string
from geo.settings import DatabaseSettings

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def second_server(tmp_path_factory):
    """A separate PostGIS cluster in a temporary folder on its own port."""
    settings = DatabaseSettings(pg_dir=tmp_path_factory.mktemp("pg2") / "pg", pg_port=_free_port())
    cluster.start(settings)
    yield settings
    cluster.stop(settings)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env.update(extra)
    return env


@pytest.mark.db
def test_cli_db_lifecycle_on_a_cluster_of_its_own(tmp_path):
    env = _env(ONEMAP_PG_DIR=str(tmp_path / "pg"), ONEMAP_PG_PORT=str(_free_port()))
    run = [sys.executable, "-m", "api.cli", "db"]
    status = subprocess.run([*run, "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 3 and "not created" in status.stdout
    up = subprocess.run([*run, "up"], env=env, capture_output=True, text=True, check=True)
    assert "running" in up.stdout
    try:
        assert subprocess.run([*run, "status"], env=env).returncode == 0
        migrated = subprocess.run([*run, "migrate"], env=env, capture_output=True, text=True)
        assert migrated.returncode == 0, migrated.stderr
        assert "0001" in migrated.stdout or "revision" in migrated.stdout
    finally:
        down = subprocess.run([*run, "down"], env=env, capture_output=True, text=True)
    assert down.returncode == 0 and "stopped" in down.stdout


@pytest.mark.db
def test_suite_runs_against_a_database_given_by_url(second_server):
    url = url_string(sqlalchemy_url(second_server, "postgres"))
    env = _env(ONEMAP_DATABASE_URL=url, CI="")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_foundation_db.py")],
        env=env, capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout
    # and the tests really used that server: their databases were created (and dropped) there
    import psycopg

    from geo.db.urls import libpq_url

    with psycopg.connect(libpq_url(second_server, "postgres")) as conn:
        stats = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'"
        ).fetchone()
    assert stats[0] > 0


def test_cli_error_is_one_line_and_non_zero(tmp_path):
    env = _env(ONEMAP_DATABASE_URL="postgresql://nobody:x@127.0.0.1:1/none")
    proc = subprocess.run([sys.executable, "-m", "api.cli", "db", "down"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("onemap: error:")

"""``make test`` on the embedded cluster stops the server it started, and only that one.

Before, the cluster the suite started kept running after it (issue 13, alongside 18).
A nested pytest run uses a cluster of this test's own (folder under data/, free port).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from api.testing.server import free_port
from geo.db import cluster, passwords
from geo.settings import DatabaseSettings

pytestmark = pytest.mark.db  # starts a cluster of its own

ROOT = Path(__file__).resolve().parent.parent


def _suite(d: Path, port: int) -> subprocess.CompletedProcess:
    """A small part of the suite on the embedded cluster in ``d`` (no ONEMAP_DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env.update(ONEMAP_PG_DIR=str(d), ONEMAP_PG_PORT=str(port), CI="")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_foundation_db.py") + "::test_schema_is_at_head"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_the_suite_stops_the_cluster_it_started_and_leaves_a_running_one():
    d = ROOT / "data" / f"pgsuite-{uuid.uuid4().hex[:8]}"
    settings = DatabaseSettings(_env_file=None, database_url=None, pg_dir=d,
                                pg_port=free_port(), data_dir=ROOT / "data")
    try:
        run = _suite(d, settings.pg_port)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert (d / "PG_VERSION").exists(), "the run did not use its own embedded cluster"
        st = cluster.status(settings)
        assert not st.running, f"the suite left its cluster running: {st}"

        cluster.start(settings)  # someone's server, running before the suite
        run = _suite(d, settings.pg_port)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert cluster.status(settings).running, "the suite stopped a server it did not start"
    finally:
        cluster.stop(settings)
        shutil.rmtree(d, ignore_errors=True)
        passwords.service_file(settings).unlink(missing_ok=True)
        passwords.superuser_file(settings).unlink(missing_ok=True)

"""Every test carries the markers of what it needs (``db``, ``browser``, ``slow``).

The whole suite is collected in a subprocess with ``tests/_marker_report.py``, which reads the
needs from the code of each test and of the fixtures it reaches (a database connection or
cluster, a Chromium launch, the city demo or a Dask cluster); here each need must show up as
the marker, so ``pytest -m "not db and not browser"`` never reaches PostgreSQL or Chromium.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """One row per test of the suite: node id, markers, needs."""
    out = tmp_path_factory.mktemp("markers") / "report.json"
    env = dict(os.environ, ONEMAP_MARKER_REPORT=str(out),
               PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), str(ROOT),
                                                         os.environ.get("PYTHONPATH")])))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "_marker_report", str(TESTS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


def test_the_whole_suite_is_collected_with_each_kind_present(collected):
    ids = {row["nodeid"] for row in collected}
    assert len(ids) == len(collected) > 1000
    for need in ("db", "browser", "slow"):
        assert any(need in row["needs"] for row in collected), f"nothing found needing {need}"
    assert any(not row["needs"] for row in collected), "no pure test found"


@pytest.mark.parametrize("need", ["db", "browser", "slow"])
def test_every_test_that_needs_it_carries_the_marker(collected, need):
    missing = [row["nodeid"] for row in collected
               if need in row["needs"] and need not in row["markers"]]
    assert not missing, f"{len(missing)} test(s) need {need} but lack the marker: {missing[:20]}"


def test_this_module_stays_pure(collected):
    mine = [row for row in collected if row["nodeid"].startswith("tests/test_markers.py")]
    assert mine and all(not ({"db", "browser"} & set(row["markers"])) for row in mine)

"""Fuzz the whole OpenAPI with schemathesis ``--checks all`` (bounded).

No input may cause a 5xx, and every answer must match the document: its status is
documented for that route, its content type too, and its body fits the schema
(errors are ``{"detail": str, "code": str}`` everywhere, ``api.openapi``; every
2xx JSON body has its model in ``api.models``, checked by ``--checks all``'s
``response_schema_conformance``).

A real server (every route reachable with an admin key) runs on a database of its
own holding a little of every layer; the schemathesis CLI runs its examples,
coverage and fuzzing phases over every operation with a small, seeded budget, so
the run is repeatable and takes a few minutes.

One check is configured, not dropped: ``positive_data_acceptance`` also accepts
400/409/412/422/428 for schema-valid data, because the schema cannot say everything
the domain checks (a point inside the service area, a plan that is a draft, a window
holding enough incidents); those answers must still be documented errors.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from _seed import seed_sql
from sqlalchemy import text

from api.testing.server import serve, server_log_tail
from geo import keys
from geo.db.engine import make_engine

MAX_EXAMPLES = 10
SEED_VALUE = 20251122
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.fixture(scope="module")
def fuzz_server(pg_server):
    from conftest import create_database, drop_database

    name = f"onemap_fuzz_{uuid.uuid4().hex[:8]}"
    db = create_database(pg_server, name)
    engine = make_engine(db)
    with engine.begin() as conn:
        conn.execute(text(seed_sql()))
    _, admin_key = keys.create_key(engine, "admin", "schemathesis")
    engine.dispose()
    try:
        with serve({"ONEMAP_DATABASE_URL": db.database_url, "ONEMAP_API_HOST": "127.0.0.1",
                    "ONEMAP_API_RATE_LIMIT_PER_MINUTE": "1000000",
                    "ONEMAP_API_AUTH_FAILURES_PER_MINUTE": "1000000",
                    # Exact siting (k up to 500) ends its solver at 2 s (+2 s grace):
                    # the run stays bounded and the kill path is exercised.
                    "ONEMAP_COVERAGE_SITE_TIME_LIMIT_S": "2",
                    "ONEMAP_DB_STATEMENT_TIMEOUT_MS": "20000"}) as base:
            yield base, admin_key
    finally:
        drop_database(pg_server, name)


# Second and third passes pin the path parameters to real data, so generated
# queries reach the SQL behind /ogc and /tiles instead of stopping at a 404.
REALISTIC = {
    "incidents": {"collection_id": "incidents", "layers": "incidents,hotspots", "feature_id": "7"},
    "cameras": {"collection_id": "cameras", "layers": "grids,cameras", "feature_id": "1"},
}


CHECKS_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2XX", "3XX", 400, 401, 403, 404, 409, 412, 422, 428]
"""


def run_schemathesis(base: str, key: str, report_dir: Path, pinned: dict | None) -> str:
    args = [SCHEMATHESIS]
    config = report_dir / "schemathesis.toml"
    text = CHECKS_CONFIG
    if pinned:
        text += "[parameters]\n" + "".join(f'"path.{k}" = "{v}"\n' for k, v in pinned.items())
    config.write_text(text)
    args += ["--config-file", str(config)]
    args += ["run", f"{base}/openapi.json", "-H", f"Authorization: Bearer {key}",
             "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
             "--seed", str(SEED_VALUE), "--phases", "examples,coverage,fuzzing",
             # Response time is checked only against the request timeout: speed lives in
             # bench/, and this box is shared.
             "--workers", "1", "--request-timeout", "60", "--max-response-time", "60",
             "--suppress-health-check", "all",
             "--no-shrink", "--output-truncate", "true"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=report_dir)
    (report_dir / "schemathesis.out").write_text(proc.stdout + proc.stderr)
    summary = proc.stdout[-12000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, f"{summary}\n--- server log ---\n{server_log_tail(base)}"
    return proc.stdout


@pytest.mark.parametrize("pass_name", [None, *REALISTIC])
def test_no_server_errors_anywhere_in_the_openapi(fuzz_server, tmp_path, pass_name):
    base, admin_key = fuzz_server
    out = run_schemathesis(base, admin_key, tmp_path, REALISTIC.get(pass_name))
    assert "Authentication failed" not in out, out[-6000:]
    m = re.search(r"(\d+) generated, (\d+) passed", out)
    assert m and int(m.group(1)) == int(m.group(2)) >= 20 * MAX_EXAMPLES, out[-6000:]
    sel = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", out)
    assert sel and sel.group(1) == sel.group(2) == sel.group(3), out[-6000:]

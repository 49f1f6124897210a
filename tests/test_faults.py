"""The database stops during a stream of incident ingests.

A real uvicorn server runs against a PostgreSQL cluster of this test's own (never
the shared one); the cluster is stopped mid-stream and started again. The client
must see 503 with Retry-After (never a hang past its timeout), the service must
recover by itself, and after retrying every incident is stored exactly once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from _server import free_port, serve
from sqlalchemy import text

from geo.db import cluster, migrate
from geo.db.engine import make_engine
from geo.settings import DatabaseSettings

ROOT = Path(__file__).resolve().parent.parent
CLIENT_TIMEOUT_S = 15.0
BATCHES = 150
PER_BATCH = 25
SMALL_CLUSTER = """
# --- fault-test cluster: small ---
shared_buffers = 32MB
max_connections = 60
effective_cache_size = 256MB
"""


@pytest.fixture(scope="module")
def own_cluster():
    """A throw-away PostGIS cluster in data/ (git-ignored), on a free port."""
    d = ROOT / "data" / f"pgfault-{uuid.uuid4().hex[:8]}"
    settings = DatabaseSettings(_env_file=None, database_url=None, pg_dir=d, pg_port=free_port(),
                                data_dir=ROOT / "data")
    cluster.init(settings)
    with open(d / "postgresql.conf", "a") as f:
        f.write(SMALL_CLUSTER)
    try:
        cluster.start(settings)
        migrate.upgrade(settings)
        engine = make_engine(settings)
        with engine.begin() as conn:  # a service area, so ingest has somewhere to put points
            conn.execute(text(
                "INSERT INTO admin_areas (code, name, level, geom) VALUES ('370303', '张店区', "
                "'district', ST_Multi(ST_MakeEnvelope(118.00, 36.75, 118.10, 36.85, 4326)))"))
        engine.dispose()
        yield settings
    finally:
        try:
            cluster.stop(settings)
        finally:
            shutil.rmtree(d, ignore_errors=True)
            cluster.password_file(settings).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def server(own_cluster):
    """uvicorn serving the app on the private cluster."""
    with serve({"ONEMAP_PG_DIR": str(own_cluster.cluster_dir),
                "ONEMAP_PG_PORT": str(own_cluster.pg_port),
                "ONEMAP_DATA_DIR": str(ROOT / "data"), "ONEMAP_HOST": "127.0.0.1",
                "ONEMAP_STATEMENT_TIMEOUT_MS": "10000"}) as base:
        yield base


def batch(run: str, i: int) -> dict:
    """Batch ``i`` of a run: PER_BATCH incidents with ids unique across the stream."""
    feats = []
    for j in range(PER_BATCH):
        feats.append({
            "type": "Feature",
            "geometry": {"type": "Point",
                         "coordinates": [118.03 + 0.0004 * j, 36.78 + 0.0003 * (i % 40)]},
            "properties": {"external_id": f"{run}-{i:04d}-{j:02d}", "source": "12345",
                           "category": "dispute", "occurred_at": "2025-03-01T09:30:00+08:00",
                           "status": "received"},
        })
    return {"type": "FeatureCollection", "features": feats}


def post(client: httpx.Client, run: str, i: int):
    """Send one batch: (status or None on timeout, seconds, response)."""
    t0 = time.monotonic()
    try:
        r = client.post("/api/v1/incidents", json=batch(run, i))
        return r.status_code, time.monotonic() - t0, r
    except httpx.TimeoutException:
        return None, time.monotonic() - t0, None


def stop_cluster(settings: DatabaseSettings, mode: str) -> None:
    """``pg_ctl stop -m fast`` (clean) or ``-m immediate`` (a crash: no shutdown checkpoint)."""
    if mode == "fast":
        cluster.stop(settings)
        return
    cmd = [str(cluster.pg_bindir() / "pg_ctl"), "-D", str(settings.cluster_dir), "-m", mode,
           "-w", "stop"]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True)


def per_batch_counts(settings: DatabaseSettings, run: str) -> dict[int, int]:
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT split_part(external_id, '-', 2)::int AS b, count(*) FROM incidents "
                "WHERE starts_with(external_id, :run) GROUP BY 1"), {"run": f"{run}-"}).all()
    finally:
        engine.dispose()
    return dict(rows)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_database_stops_during_ingest_stream(own_cluster, server, mode):
    run = f"fault{mode}"
    outage: dict[str, float] = {}

    def stop_and_restart():
        stop_cluster(own_cluster, mode)
        outage["stopped"] = time.monotonic()
        time.sleep(4.0)
        cluster.start(own_cluster)
        outage["started"] = time.monotonic()

    results: dict[int, int | None] = {}
    elapsed, unavailable = [], []
    ready_during_outage = None
    with httpx.Client(base_url=server, timeout=CLIENT_TIMEOUT_S) as client:
        killer = threading.Thread(target=stop_and_restart)
        for i in range(BATCHES):
            if i == 15:
                killer.start()
            if "stopped" in outage and "started" not in outage and ready_during_outage is None:
                ready_during_outage = client.get("/readyz")
            status, dt, r = post(client, run, i)
            results[i] = status
            elapsed.append(dt)
            if status == 503:
                unavailable.append(r)
            time.sleep(0.1)
        killer.join()
        print(f"\n{mode}: {len(unavailable)} of {BATCHES} batches got 503, slowest answer "
              f"{max(elapsed):.2f} s, statuses {sorted(set(map(str, results.values())))}")

        # The client saw the outage as 503 + Retry-After, and never waited past its timeout.
        assert unavailable, f"no 503 seen during the outage: {results}"
        assert all(r.headers.get("retry-after") for r in unavailable)
        assert all(r.json()["code"] == "database_unavailable" for r in unavailable)
        assert max(elapsed) < CLIENT_TIMEOUT_S, max(elapsed)
        assert set(results.values()) <= {200, 503}, results
        assert ready_during_outage is not None and ready_during_outage.status_code == 503

        # The service recovered by itself, during the stream.
        assert results[BATCHES - 1] == 200, "no success after the database returned"
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "service did not recover"
            time.sleep(0.5)

        # Nothing acknowledged was lost (even after a crash); no batch is half-written.
        counts = per_batch_counts(own_cluster, run)
        acknowledged = [i for i, st in results.items() if st == 200]
        lost = [i for i in acknowledged if counts.get(i, 0) != PER_BATCH]
        assert not lost, f"acknowledged batches lost after the {mode} stop: {lost}"
        assert set(counts.values()) <= {PER_BATCH}, f"partial batches: {counts}"

        # Retry what failed, and resend some that succeeded: idempotent, all-or-nothing.
        failed = [i for i, st in results.items() if st != 200]
        for i in failed + [0, 1, BATCHES - 1]:
            for _ in range(20):
                status, _, r = post(client, run, i)
                if status == 200:
                    break
                time.sleep(0.5)
            assert status == 200, f"batch {i} still failing after the database returned"
            if i not in failed:
                assert r.json()["inserted"] == 0 and r.json()["already_present"] == PER_BATCH

    counts = per_batch_counts(own_cluster, run)
    assert counts == {i: PER_BATCH for i in range(BATCHES)}

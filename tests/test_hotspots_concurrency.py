"""Hotspots under concurrent load (issue 8): one computation per missing cache entry,
incremental snapshot refreshes equal to full reads, stale answers only within
``max_stale_s`` and never mixing versions, and ingest during a stream of requests
never failing one."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import h3
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from test_hotspots_data import STEADY_CELL9, load

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo.h3cells import SQL_COLUMNS, SQL_PARAMS, cells_of
from geo.hotspots import analyses
from geo.hotspots.params import hotspot_query
from geo.hotspots.runtime import HotspotService
from geo.hotspots.settings import HotspotSettings
from geo.hotspots.snapshot import IncidentColumns
from geo.settings import ServiceAreaSettings

SETTINGS = HotspotSettings(_env_file=None)
AREA = ServiceAreaSettings(_env_file=None)
LAT, LON = h3.cell_to_latlng(STEADY_CELL9)
CELL12 = h3.str_to_int(h3.latlng_to_cell(LAT, LON, 12))


@pytest.fixture(scope="module")
def loaded(engine):
    load(engine)
    return engine


def insert(conn, name: str, category: str = "hazard") -> None:
    """One incident in the planted cluster's cell, inside 2025."""
    conn.execute(text(
        "INSERT INTO incidents (external_id, source, category, occurred_at, h3, "
        f"{SQL_COLUMNS}, geom) "
        f"VALUES (:e, 'grid', :c, '2025-05-05T10:00:00+08', :h, {SQL_PARAMS}, "
        "ST_SetSRID(ST_Point(:x, :y), 4326))"
    ), {"e": name, "c": category, "h": CELL12, "x": LON, "y": LAT, **cells_of(LON, LAT)})


def same_rows(a: IncidentColumns, b: IncidentColumns) -> bool:
    """The two snapshots hold the same incidents (in any order)."""
    def key(c):
        order = np.lexsort((c.source, c.category, c.t_us, c.h3))
        return [c.cells[:, order], *(x[order] for x in (c.t_us, c.category, c.source))]

    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(key(a), key(b),
                                                                          strict=True))


def test_twenty_concurrent_requests_for_new_parameters_compute_once(loaded):
    svc = HotspotService(loaded, SETTINGS, AREA)
    q = hotspot_query(SETTINGS, res=9, from_="2025-02-01", to="2025-09-01", category="hazard")
    start = threading.Barrier(20)

    def ask():
        start.wait()
        return analyses.hotspots(svc, q)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: ask(), range(20)))
    assert all(r is results[0] for r in results)
    assert svc.results.computed == 1
    assert svc.snapshots.loads.computed == 1  # one snapshot read, not twenty


def test_incremental_refresh_equals_a_full_read(loaded):
    base = IncidentColumns.load(loaded)
    with loaded.begin() as conn:
        for i in range(3):
            insert(conn, f"grow-{i}")
    grown = IncidentColumns.load(loaded, base)
    full = IncidentColumns.load(loaded)
    assert len(grown) == len(base) + 3 and grown.version > base.version
    assert grown.max_id == full.max_id and same_rows(grown, full)
    assert np.array_equal(grown.h3[: len(base)], base.h3)  # appended, not re-read


def test_a_late_commit_of_a_lower_id_forces_a_full_read(loaded):
    # A writer takes its id, another commits a higher one, then the first commits.
    with loaded.begin() as conn:
        low = conn.execute(text("SELECT nextval(pg_get_serial_sequence('incidents', 'id'))")
                           ).scalar()
        insert(conn, "early-high-id")
    base = IncidentColumns.load(loaded)
    with loaded.begin() as conn:
        conn.execute(text(
            f"INSERT INTO incidents (id, external_id, source, category, occurred_at, h3, "
            f"{SQL_COLUMNS}, geom) "
            "SELECT :id, 'late-low-id', source, category, occurred_at, h3, "
            f"{SQL_COLUMNS}, geom "
            "FROM incidents WHERE external_id = 'early-high-id'"), {"id": low})
    refreshed = IncidentColumns.load(loaded, base)
    assert base.max_id > low and len(refreshed) == len(base) + 1
    assert same_rows(refreshed, IncidentColumns.load(loaded))


def test_a_rewrite_forces_a_full_read(loaded):
    base = IncidentColumns.load(loaded)
    with loaded.begin() as conn:
        conn.execute(text("UPDATE incidents SET category = 'dispute' "
                          "WHERE external_id = 'grow-0'"))
        conn.execute(text("DELETE FROM incidents WHERE external_id = 'grow-1'"))
        insert(conn, "after-rewrite")
    refreshed = IncidentColumns.load(loaded, base)
    assert refreshed.marker != base.marker and len(refreshed) == len(base)
    assert same_rows(refreshed, IncidentColumns.load(loaded))


def test_stale_answers_stay_within_max_stale_and_then_follow(loaded):
    svc = HotspotService(loaded, HotspotSettings(_env_file=None, max_stale_s=60), AREA)
    q = hotspot_query(SETTINGS)
    before = analyses.hotspots(svc, q)
    with loaded.begin() as conn:
        insert(conn, "stale-1")
    stale = analyses.hotspots(svc, q)  # the previous snapshot answers, whole
    assert stale.parameters["data_version"] == before.parameters["data_version"]
    assert stale.counts.sum() == before.counts.sum()
    fresh = analyses.hotspots(svc, q, fresh=True)
    assert fresh.parameters["data_version"] > before.parameters["data_version"]
    assert fresh.counts.sum() == before.counts.sum() + 1
    # With max_stale_s = 0 every answer reads the newest data.
    now = HotspotService(loaded, HotspotSettings(_env_file=None, max_stale_s=0), AREA)
    first = analyses.hotspots(now, q)
    with loaded.begin() as conn:
        insert(conn, "stale-2")
    assert analyses.hotspots(now, q).counts.sum() == first.counts.sum() + 1


def test_background_refresh_brings_the_new_data_within_max_stale(loaded):
    svc = HotspotService(loaded, HotspotSettings(_env_file=None, max_stale_s=1.0), AREA)
    q = hotspot_query(SETTINGS)
    before = analyses.hotspots(svc, q)
    with loaded.begin() as conn:
        insert(conn, "bg-1")
    deadline = time.monotonic() + 10
    seen = before
    while seen.counts.sum() == before.counts.sum() and time.monotonic() < deadline:
        seen = analyses.hotspots(svc, q)
        time.sleep(0.05)
    assert seen.counts.sum() == before.counts.sum() + 1
    assert seen.parameters["data_version"] > before.parameters["data_version"]


def test_ingest_during_a_stream_of_requests_never_fails_and_shows(loaded, db_settings):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    params = {"res": 9, "from": "2025-01-01", "to": "2025-12-31"}
    with TestClient(app) as client:
        first = client.get("/api/v1/hotspots", params=params).json()
        total0 = sum(f["properties"]["count"] for f in first["features"])
        stop = threading.Event()
        answers, problems = [], []

        def stream():
            while not stop.is_set():
                r = client.get("/api/v1/hotspots", params=params)
                if r.status_code != 200:
                    problems.append(r.text)
                    continue
                fc = r.json()
                answers.append((fc["parameters"]["data_version"],
                                sum(f["properties"]["count"] for f in fc["features"]),
                                fc["parameters"]["incidents"]))

        threads = [threading.Thread(target=stream) for _ in range(6)]
        for t in threads:
            t.start()
        for i in range(15):
            with loaded.begin() as conn:
                insert(conn, f"stream-{i}")
            time.sleep(0.05)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(a[1] == total0 + 15 for a in answers):
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join()
        tile = client.get("/tiles/hotspots/13/6780/3192.pbf")
    assert problems == []
    assert any(a[1] == total0 + 15 for a in answers)
    # One answer, one version: the cell counts always add up to the incidents echoed,
    # and a version always comes with the same total.
    assert all(total == echoed for _, total, echoed in answers)
    per_version = {}
    for version, total, _ in answers:
        assert per_version.setdefault(version, total) == total
    assert tile.status_code in (200, 204)

"""Publishing as a job, through a real uvicorn server: ``202`` + ``Location``, the job's progress
while it runs, a second publish refused while one is open, and a publish that fails half-way
leaving the previous plan published and every row as it was; a job whose process died is
reported failed."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import text
from test_grid_publish import grid_of_incidents, strtree_lookup

from api.testing.server import ROOT, serve
from geo import jobs
from geo.db.engine import make_engine
from geo.errors import NotFound
from geo.gridplan import plans
from geo.gridplan.redistrict import RedistrictParams, redistrict
from geo.settings import ServiceAreaSettings

BASE = "/api/v1/grid-plans"

# A pause inside the publish, where it writes incidents (after the grids were swapped and the
# old plan archived): the job is seen running, part-way.
SLOW = """
    CREATE FUNCTION test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$;
    CREATE TRIGGER test_slow BEFORE UPDATE OF grid_id ON incidents
        FOR EACH STATEMENT EXECUTE FUNCTION test_slow();
"""
# A failure at the same place.
BROKEN = """
    CREATE FUNCTION test_broken() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'injected failure'; END $$;
    CREATE TRIGGER test_broken BEFORE UPDATE OF grid_id ON incidents
        FOR EACH STATEMENT EXECUTE FUNCTION test_broken();
"""


@pytest.fixture()
def setup(small_demo_copy):
    """A draft with one community redistricted, and a server on the database."""
    engine = make_engine(small_demo_copy)
    with engine.begin() as conn:
        active = conn.execute(text("SELECT id FROM grid_plans WHERE status = 'active'")).scalar()
        code = conn.execute(
            text("""
            SELECT community_code FROM grids WHERE plan_id = :p AND community_code IS NOT NULL
             GROUP BY community_code ORDER BY count(*) DESC LIMIT 1
        """),
            {"p": active},
        ).scalar_one()
        draft = plans.create_plan(conn, "job", active)
    report = redistrict(engine, draft, RedistrictParams(), communities=[code],
                        area=ServiceAreaSettings())
    with serve({"ONEMAP_DATABASE_URL": small_demo_copy.database_url,
                "ONEMAP_API_HOST": "127.0.0.1"}) as base:
        yield engine, base, active, draft, report["version"]
    engine.dispose()


def _state(engine) -> tuple:
    with engine.connect() as conn:
        return (
            grid_of_incidents(conn),
            sorted(conn.execute(text("SELECT id, status, version FROM grid_plans")).all()),
            sorted(conn.execute(text("SELECT id, plan_id, code FROM grids")).all()),
            sorted(conn.execute(text("SELECT plan_id, building_id, grid_id "
                                     "FROM grid_members")).all()),
        )


def _poll(client: httpx.Client, url: str, seen: list[dict], timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.get(url)
        assert r.status_code == 200, r.text
        job = r.json()
        seen.append(job)
        if job["state"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_publish_answers_202_and_the_job_reports_progress(setup):
    engine, base, active, draft, version = setup
    with engine.begin() as conn:
        conn.execute(text(SLOW))
    with httpx.Client(base_url=base, timeout=30) as client:
        t0 = time.monotonic()
        r = client.post(f"{BASE}/{draft}/publish", headers={"If-Match": f'"{version}"'})
        answered = time.monotonic() - t0
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/api/v1/jobs/{job['id']}"
        assert job["state"] in ("queued", "running") and 0 <= job["progress"] < 1
        assert job["kind"] == "grid_plan.publish" and job["subject"] == f"grid_plans/{draft}"
        assert answered < 2  # the request did not wait for the 2 s pause inside the publish
        # While it runs: a second publish of the plan is refused, the plan is still a draft.
        again = client.post(f"{BASE}/{draft}/publish")
        assert again.status_code == 409 and again.json()["code"] == "conflict", again.text
        assert client.get(f"{BASE}/active").json()["id"] == active
        seen: list[dict] = []
        done = _poll(client, r.headers["location"], seen)
        assert client.get("/api/v1/jobs/not-a-job").status_code == 404
        assert client.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
    running = [j for j in seen if j["state"] == "running"]
    assert running and any(0 < j["progress"] < 1 for j in running), seen
    progress = [j["progress"] for j in seen]
    assert progress == sorted(progress)
    assert done["state"] == "succeeded" and done["progress"] == 1 and done["error"] is None
    assert done["started_at"] <= done["finished_at"]
    res = done["result"]
    assert res["plan"] == draft and res["archived"] == active
    assert res["grids_kept"] > 0 and res["grids_changed"] > 0 and res["incidents_reassigned"] > 0
    with engine.connect() as conn:
        status = dict(conn.execute(text("SELECT id, status FROM grid_plans")).all())
        assert grid_of_incidents(conn) == strtree_lookup(conn, draft)
    assert status[draft] == "active" and status[active] == "archived"


def test_a_publish_failing_half_way_leaves_the_previous_plan_published(setup):
    engine, base, active, draft, version = setup
    with engine.begin() as conn:
        conn.execute(text(BROKEN))
    before = _state(engine)
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post(f"{BASE}/{draft}/publish", headers={"If-Match": f'"{version}"'})
        assert r.status_code == 202, r.text
        done = _poll(client, r.headers["location"], [])
        assert done["state"] == "failed" and done["result"] is None, done
        assert done["error"]["code"] == "job_failed" and done["error"]["detail"]
        assert "injected" not in done["error"]["detail"]  # no database text in the answer
        assert done["finished_at"] is not None
        assert client.get(f"{BASE}/active").json()["id"] == active
    assert _state(engine) == before  # plans, grid ids, memberships, incidents: all as they were

    # Repaired, the same publish goes through.
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER test_broken ON incidents"))
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post(f"{BASE}/{draft}/publish", headers={"If-Match": f'"{version}"'})
        assert r.status_code == 202, r.text
        assert _poll(client, r.headers["location"], [])["state"] == "succeeded"


RUNNER = """
import sys, time
from geo import jobs
from geo import jobs
from geo.db.engine import make_engine
from geo.errors import NotFound
from geo.settings import DatabaseSettings
engine = make_engine(DatabaseSettings(database_url=sys.argv[1]))
jobs.run(engine, sys.argv[2], lambda conn, progress: time.sleep(120) or {})
"""


def test_a_job_whose_process_died_reports_failed(empty_db, db_settings):
    """The runner is killed mid-way (its process, and with it its transaction and lock): the
    job, running until then, is reported failed, not running for ever."""
    engine = empty_db
    job = jobs.create(engine, "test.sleep", "tests/1", "tester")
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, db_settings.database_url, job],
                            cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while jobs.get(engine, job)["state"] != "running":
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        assert jobs.get(engine, job)["state"] == "running"  # its runner holds it
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 30
    while (j := jobs.get(engine, job))["state"] == "running":  # the server notices the drop
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert j["state"] == "failed" and j["error"]["code"] == "job_interrupted", j
    assert j["finished_at"] is not None and j["result"] is None
    with pytest.raises(NotFound):
        jobs.get(engine, "00000000-0000-0000-0000-000000000000")

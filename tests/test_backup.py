"""``onemap db dump`` / ``onemap db restore`` round-trip all data."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from _seed import seed_sql
from conftest import DATA_TABLES, create_database, drop_database
from sqlalchemy import text

from geo.db.engine import make_engine
from geo.h3cells import SQL_COLUMNS, SQL_PARAMS, cells_of

ONEMAP = [sys.executable, "-m", "api.cli"]
TABLES = [*DATA_TABLES, "alembic_version"]

def fingerprint(engine) -> dict[str, tuple[int, str]]:
    """Row count and an md5 over every row's text, per table."""
    out = {}
    with engine.connect() as conn:
        for t in TABLES:
            out[t] = tuple(conn.execute(text(
                f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                f"FROM {t} x")).one())
    return out


@pytest.fixture()
def scratch_db(pg_server):
    """A database of its own: restore replaces everything in it."""
    name = f"onemap_backup_{uuid.uuid4().hex[:8]}"
    settings = create_database(pg_server, name)
    engine = make_engine(settings)
    with engine.begin() as conn:
        conn.execute(text(seed_sql()))
    yield settings, engine
    engine.dispose()
    drop_database(pg_server, name)


def cli(args, settings) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, ONEMAP_DATABASE_URL=settings.database_url)
    return subprocess.run([*ONEMAP, *args], env=env, capture_output=True, text=True, timeout=300)


def test_dump_restore_round_trips_everything(scratch_db, tmp_path):
    settings, engine = scratch_db
    before = fingerprint(engine)
    assert before["incidents"][0] == 250 and all(before[t][0] > 0 for t in TABLES)
    with engine.connect() as conn:
        versions_before = dict(conn.execute(
            text("SELECT layer, version FROM layer_versions")).all())

    out = tmp_path / "onemap.dump"
    proc = cli(["db", "dump", str(out)], settings)
    assert proc.returncode == 0, proc.stderr
    assert "dumped" in proc.stdout and out.read_bytes()[:5] == b"PGDMP"

    # Damage the database in every way: deletes, inserts, a truncated table.
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM incidents WHERE id % 3 = 0"))
        conn.execute(text("UPDATE cameras SET status = 'fault'"))
        conn.execute(text("TRUNCATE audit_log, plan_edits"))
        conn.execute(text("INSERT INTO places (name, geom) VALUES "
                          "('x', ST_SetSRID(ST_MakePoint(118, 36.8), 4326))"))
    assert fingerprint(engine) != before

    proc = cli(["db", "restore", str(out)], settings)
    assert proc.returncode == 0, proc.stderr
    engine.dispose()
    assert fingerprint(engine) == before

    with engine.begin() as conn:
        # Sequences came back too: a new incident gets a fresh id.
        new_id = conn.execute(text(
            "INSERT INTO incidents (external_id, source, category, occurred_at, h3, "
            f"{SQL_COLUMNS}, geom) "
            f"VALUES ('new', 'grid', 'hazard', now(), 1, {SQL_PARAMS}, "
            "ST_SetSRID(ST_MakePoint(118, 36.8), 4326)) "
            "RETURNING id"), cells_of(118, 36.8)).scalar()
        assert new_id == 251
        versions_after = dict(conn.execute(text("SELECT layer, version FROM layer_versions")).all())
    # Every layer's data version moved past anything served before the restore.
    assert set(versions_after) == set(versions_before)
    top = max(versions_before.values())
    assert all(v > top for v in versions_after.values())


def test_restore_of_a_bad_file_changes_nothing(scratch_db, tmp_path):
    settings, engine = scratch_db
    before = fingerprint(engine)
    bad = tmp_path / "not-a-dump.dump"
    bad.write_text("SELECT 1;")
    proc = cli(["db", "restore", str(bad)], settings)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a pg_dump custom-format file" in lines[0]
    missing = cli(["db", "restore", str(tmp_path / "nope.dump")], settings)
    assert missing.returncode != 0 and "no dump file at" in missing.stderr
    assert fingerprint(engine) == before


def test_dump_into_a_missing_folder_is_one_line(scratch_db, tmp_path):
    settings, _ = scratch_db
    proc = cli(["db", "dump", str(tmp_path / "no" / "such" / "x.dump")], settings)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0]

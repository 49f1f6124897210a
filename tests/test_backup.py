"""``onemap db dump`` / ``onemap db restore`` round-trip all data."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from conftest import DATA_TABLES, create_database, drop_database
from sqlalchemy import text

from geo.db.engine import make_engine

ONEMAP = [sys.executable, "-m", "api.cli"]
TABLES = [*DATA_TABLES, "alembic_version"]

SEED = """
INSERT INTO admin_areas (code, name, level, parent_code, geom) VALUES
  ('370303', '张店区', 'district', NULL,
   ST_Multi(ST_MakeEnvelope(118.00, 36.75, 118.10, 36.85, 4326))),
  ('370303001', '车站街道', 'street', '370303',
   ST_Multi(ST_MakeEnvelope(118.00, 36.75, 118.05, 36.80, 4326)));
INSERT INTO grid_plans (name, status, author) VALUES ('现行网格', 'active', 'planner-1');
INSERT INTO grids (plan_id, code, name, community_code, geom) VALUES
  (1, 'G001', '一网格', '370303001001', ST_Multi(ST_MakeEnvelope(118.0, 36.75, 118.01, 36.76, 4326)));
INSERT INTO buildings (code, households, population, floors, kind, community_code, geom) VALUES
  ('B1', 120, 300, 18, 'tower', '370303001001',
   ST_MakeEnvelope(118.001, 36.751, 118.002, 36.752, 4326));
INSERT INTO grid_members VALUES (1, 1, 1);
INSERT INTO cameras (code, name, class, kind, azimuth, geom) VALUES
  ('37030300001310000001', '东门', 'A', 'dome', 45.5, ST_SetSRID(ST_MakePoint(118.0015, 36.7515), 4326));
INSERT INTO camera_views (camera_id, geom, area_m2) VALUES
  (1, ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(118.0015, 36.7515), 4326), 0.0003)), 1234.5);
INSERT INTO incidents (external_id, source, category, occurred_at, h3, grid_id, geom)
SELECT 'E' || g, '12345', 'dispute', '2025-01-01T08:00:00+08'::timestamptz + g * interval '1 hour',
       644734457035849728 + g, 1, ST_SetSRID(ST_MakePoint(118.001 + g * 1e-5, 36.751), 4326)
FROM generate_series(1, 250) g;
INSERT INTO roads (name, class, geom) VALUES
  ('人民路', 'arterial', ST_Multi(ST_MakeLine(ST_MakePoint(118.0, 36.76), ST_MakePoint(118.1, 36.76))));
INSERT INTO waterways (name, geom) VALUES
  ('孝妇河', ST_SetSRID(ST_MakeLine(ST_MakePoint(118.0, 36.77), ST_MakePoint(118.1, 36.78)), 4326));
INSERT INTO places (name, kind, key, geom) VALUES
  ('实验小学', 'school', true, ST_SetSRID(ST_MakePoint(118.003, 36.752), 4326));
INSERT INTO coverage_gaps (geom, area_m2, incidents, priority) VALUES
  (ST_Multi(ST_MakeEnvelope(118.004, 36.754, 118.005, 36.755, 4326)), 9876.5, 3, 0.7);
INSERT INTO api_keys (key_id, name, role, key_hash) VALUES ('0123456789ab', 'ops', 'admin', 'ff');
INSERT INTO audit_log (actor, action, target, detail) VALUES
  ('key:0123456789ab', 'grid_plan.publish', 'grid_plans/1', '{"version": 1}');
INSERT INTO plan_edits (plan_id, version, actor, kind, detail) VALUES
  (1, 1, 'planner-1', 'move_building', '{"building": 1}');
"""


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
        conn.execute(text(SEED))
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
        versions_before = dict(conn.execute(text("SELECT layer, version FROM layer_versions")).all())

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
            "INSERT INTO incidents (external_id, source, category, occurred_at, h3, geom) "
            "VALUES ('new', 'grid', 'hazard', now(), 1, ST_SetSRID(ST_MakePoint(118, 36.8), 4326)) "
            "RETURNING id")).scalar()
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

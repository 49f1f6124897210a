"""The embedded cluster, migrations and the schema's constraints."""

from __future__ import annotations

import subprocess
import sys

import h3
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from geo.db.engine import schema_revision
from geo.db.migrate import head_revision


def test_schema_is_at_head(engine):
    head = head_revision()
    assert head and schema_revision(engine) == head


def test_postgis_is_there(engine):
    with engine.connect() as conn:
        version = conn.execute(text("SELECT postgis_lib_version()")).scalar()
    assert version.startswith("3.")


@pytest.mark.parametrize("res", [6, 8, 9, 11, 12])
def test_h3_parent_in_sql_equals_h3_library(engine, res):
    cell = h3.latlng_to_cell(36.8123, 118.0456, 12)
    with engine.connect() as conn:
        got = conn.execute(
            text("SELECT onemap_h3_parent(:c, :r)"), {"c": h3.str_to_int(cell), "r": res}
        ).scalar()
    assert got == h3.str_to_int(h3.cell_to_parent(cell, res))


@pytest.mark.parametrize(
    ("sql", "constraint"),
    [
        ("INSERT INTO buildings (households, geom) VALUES (-1, ST_Point(118, 36.8, 4326))",
         "buildings_households_not_negative"),
        ("INSERT INTO cameras (fov, geom) VALUES (400, ST_Point(118, 36.8, 4326))",
         "cameras_fov_in_range"),
        ("INSERT INTO cameras (fov, geom) VALUES (0, ST_Point(118, 36.8, 4326))",
         "cameras_fov_in_range"),
        ("INSERT INTO cameras (class, geom) VALUES ('D', ST_Point(118, 36.8, 4326))",
         "cameras_class_known"),
        ("INSERT INTO cameras (status, geom) VALUES ('broken', ST_Point(118, 36.8, 4326))",
         "cameras_status_known"),
        ("INSERT INTO cameras (code, geom) VALUES ('12345', ST_Point(118, 36.8, 4326))",
         "cameras_code_gbt28181"),
    ],
)
def test_constraints_reject_impossible_values(empty_db, sql, constraint):
    with pytest.raises(IntegrityError) as err, empty_db.begin() as conn:
        conn.execute(text(sql))
    assert constraint in str(err.value)


def test_layer_version_bumps_only_the_changed_layer(empty_db):
    def versions(conn):
        return dict(conn.execute(text("SELECT layer, version FROM layer_versions")).all())

    with empty_db.begin() as conn:
        before = versions(conn)
        conn.execute(text("INSERT INTO cameras (geom) VALUES (ST_Point(118, 36.8, 4326))"))
    with empty_db.connect() as conn:
        after = versions(conn)
    assert after["cameras"] > before["cameras"]
    assert after["grids"] == before["grids"]


def test_generated_web_mercator_copy(empty_db):
    with empty_db.begin() as conn:
        conn.execute(text("INSERT INTO cameras (geom) VALUES (ST_Point(118.05, 36.8, 4326))"))
        x = conn.execute(text("SELECT ST_X(geom_3857) FROM cameras")).scalar()
    assert x == pytest.approx(118.05 * 20037508.342789244 / 180, rel=1e-9)


def test_db_url_prints_sqlalchemy_url_last(db_env):
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "db", "url"], capture_output=True, text=True, env=db_env,
        check=True,
    ).stdout.strip().splitlines()
    assert out[-1].startswith("postgresql+psycopg://")

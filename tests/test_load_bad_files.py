"""The catalogue of bad input files (tests/fixtures/load/bad/): each one, through the real
``onemap load`` entry point, prints one clear line, exits 2 and changes no row count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from api.cli import main
from geo.io.load import load_file
from geo.io.settings import IngestSettings
from geo.settings import ServiceAreaSettings

LOAD = Path(__file__).resolve().parent / "fixtures" / "load"
BAD = LOAD / "bad"
TABLES = ["admin_areas", "grid_plans", "grids", "grid_members", "buildings", "cameras",
          "incidents", "roads", "places", "waterways"]

# (id, layer, file, extra args, what the one-line message must say)
CATALOGUE = [
    ("missing-field", "incidents", BAD / "missing_field.csv", [],
     "missing required field 'occurred_at' for incidents"),
    ("unparsable-time", "incidents", BAD / "bad_time.csv", [],
     "row 2: occurred_at '2024-13-45T25:00' is not an ISO 8601 time"),
    ("lat-lon-swapped", "cameras", BAD / "swapped.csv", [],
     "row 2: lat/lon swapped? (36.805, 118.035) is not in the service area"),
    ("far-outside", "cameras", BAD / "outside.csv", [],
     "row 2: (116.397, 39.909) is far outside the service area"),
    ("invalid-polygon", "grids", BAD / "invalid_polygon.geojson", [],
     "row 2: invalid polygon that cannot be repaired"),
    ("bad-camera-code", "cameras", BAD / "bad_code.csv", [],
     "row 2: camera code '3703030000132000001X' is not a GB/T 28181 code"),
    ("duplicate-rows", "incidents", BAD / "duplicate_rows.csv", [],
     "row 3: duplicate of row 1 (same source, external_id)"),
    ("empty-file", "cameras", BAD / "empty.csv", [], "empty.csv: the file is empty"),
    ("no-features", "cameras", BAD / "no_features.geojson", [], "no rows to load"),
    ("wrong-geometry", "cameras", BAD / "wrong_geometry.geojson", [],
     "row 1: geometry is LineString; cameras takes Point"),
    ("unknown-layer", "parks", LOAD / "cameras.csv", [], "unknown layer 'parks'"),
    ("non-utf8-csv", "cameras", BAD / "gbk.csv", [],
     "gbk.csv: not UTF-8 text (byte 0xd5 on line 2); it looks like GBK/GB18030"),
    ("broken-row", "incidents", BAD / "broken_row.csv", [],
     "broken_row.csv line 3: 10 fields where the header has 9"),
    ("unknown-class", "cameras", BAD / "bad_class.csv", [],
     "row 2: class '四类' is not one of A, B, C"),
    ("negative-households", "buildings", BAD / "negative_households.csv", [],
     "row 2: households -5 is outside [0, ∞]"),
    ("no-coordinates", "cameras", BAD / "no_coordinates.csv", [],
     "no_coordinates.csv: no coordinates: needs lon/lat (or x/y) columns"),
    ("not-a-number", "cameras", BAD / "bad_number.csv", [],
     "row 2: azimuth 'north' is not a number"),
    ("truncated-json", "cameras", BAD / "truncated.geojson", [],
     "truncated.geojson: cannot read as geojson"),
    ("unsupported-type", "cameras", BAD / "cameras.xlsx", [], "unsupported file type .xlsx"),
    ("resolved-before-occurred", "incidents", BAD / "resolved_before.csv", [],
     "row 2: resolved_at is before occurred_at"),
    ("projected-without-crs", "cameras", BAD / "projected.csv", [],
     "coordinates are not degrees"),
    ("unknown-crs", "cameras", LOAD / "cameras.csv", ["--crs", "EPSG:999999"],
     "unknown CRS 'EPSG:999999'"),
    ("map-unknown-column", "cameras", LOAD / "cameras.csv", ["--map", "名字=name"],
     "--map names column(s) 名字 that the file does not have"),
    ("missing-plan", "grids", BAD / "missing_plan.geojson", [],
     "the database refused the rows (constraint grids_plan_id_fkey)"),
    ("future-time", "incidents", BAD / "future.csv", [], "row 2: occurred_at 2099-01-01T01:00:00"),
    ("null-geometry", "cameras", BAD / "null_geometry.geojson", [], "row 1: no geometry"),
    ("unknown-source", "incidents", BAD / "bad_source.csv", [],
     "row 2: source '微博' is not one of 12345, 110, grid, petition, other"),
    ("no-such-file", "cameras", BAD / "does_not_exist.csv", [], "no such file"),
    ("bad-on-conflict", "cameras", LOAD / "cameras.csv", ["--on-conflict", "merge"],
     "--on-conflict must be one of skip, update"),
]


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def run_cli(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """The real ``onemap`` entry point, in process."""
    monkeypatch.setattr(sys, "argv", ["onemap", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def loaded_db(empty_db, db_env):
    """A database holding some of every layer, so 'counts unchanged' means something."""
    for layer, name in [("admin_areas", "admin_areas.geojson"), ("grids", "grids.geojson"),
                        ("buildings", "buildings.geojson"), ("cameras", "cameras.csv"),
                        ("incidents", "incidents.csv"), ("roads", "roads.geojson"),
                        ("places", "places.geojson")]:
        load_file(empty_db, layer, LOAD / name, progress=False, area=ServiceAreaSettings(),
                  settings=IngestSettings())
    return empty_db


def test_the_catalogue_is_big_enough():
    files = {case[2] for case in CATALOGUE if case[2].parent == BAD}
    assert len(CATALOGUE) >= 15 and len(files) >= 15
    assert all(f.exists() for f in files if f.name != "does_not_exist.csv")


@pytest.mark.parametrize(("layer", "path", "args", "message"),
                         [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_bad_file_says_why_and_loads_nothing(loaded_db, capsys, monkeypatch, layer, path, args,
                                             message):
    before = counts(loaded_db)
    code, out, err = run_cli(["load", layer, str(path), *args], capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith("onemap: error: "), err
    assert message in lines[0], lines[0]
    assert counts(loaded_db) == before


def test_good_rows_load_with_reject_file_and_exit_zero(loaded_db, capsys, monkeypatch, tmp_path):
    rejects = tmp_path / "rejects.csv"
    before = counts(loaded_db)["incidents"]
    code, out, err = run_cli(["load", "incidents", str(BAD / "bad_time.csv"), "--reject-file",
                              str(rejects)], capsys, monkeypatch)
    assert code == 0, err
    assert "inserted 2" in out and "rejected 1" in out
    assert counts(loaded_db)["incidents"] == before + 2
    assert "is not an ISO 8601 time" in rejects.read_text(encoding="utf-8")


def test_encoding_option_reads_gbk(loaded_db, capsys, monkeypatch):
    code, out, err = run_cli(["load", "cameras", str(BAD / "gbk.csv"), "--encoding", "gbk"],
                             capsys, monkeypatch)
    assert code == 0, err
    with loaded_db.connect() as conn:
        named = conn.execute(text("SELECT count(*) FROM cameras WHERE name = '张店区摄像机'"))
        assert named.scalar() == 1


def test_entry_point_in_a_subprocess(loaded_db, db_env):
    before = counts(loaded_db)
    bad = subprocess.run([sys.executable, "-m", "api.cli", "load", "incidents",
                          str(BAD / "duplicate_rows.csv")], capture_output=True, text=True,
                         env=db_env)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("onemap: error: incidents: row 3: duplicate of row 1")
    assert counts(loaded_db) == before
    good = subprocess.run([sys.executable, "-m", "api.cli", "load", "incidents",
                           str(LOAD / "incidents.csv")], capture_output=True, text=True,
                          env=db_env)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip().startswith("incidents: read 40, inserted 0, updated 0, skipped 40")


def test_the_library_names_options_by_parameter_and_the_cli_by_flag(empty_db, capsys,
                                                                    monkeypatch):
    from geo.errors import FileFormatError, InvalidInput

    with pytest.raises(InvalidInput, match="^on_conflict must be one of skip, update"):
        load_file(empty_db, "cameras", LOAD / "cameras.csv", on_conflict="merge", progress=False,
                  area=ServiceAreaSettings(), settings=IngestSettings())
    with pytest.raises(FileFormatError, match="^mapping names column"):
        load_file(empty_db, "cameras", LOAD / "cameras.csv", mapping={"名字": "name"},
                  progress=False, area=ServiceAreaSettings(), settings=IngestSettings())
    code, _, err = run_cli(["load", "cameras", str(LOAD / "cameras.csv"), "--on-conflict", "x"],
                           capsys, monkeypatch)
    assert code == 2 and "--on-conflict must be one of skip, update" in err
    # The flag spelling was for that call only.
    with pytest.raises(InvalidInput, match="^on_conflict must"):
        load_file(empty_db, "cameras", LOAD / "cameras.csv", on_conflict="x", progress=False,
                  area=ServiceAreaSettings(), settings=IngestSettings())


@pytest.mark.parametrize("args", [["load", "cameras", str(LOAD / "cameras.csv")],
                                  ["export", "cameras", "out.geojson"],
                                  ["coverage", "summary"]])
def test_an_unreachable_database_is_one_line_for_every_command(args, tmp_path, monkeypatch):
    """Every command opens the database through api.cli.database.open_engine."""
    from api.testing.server import free_port

    url = f"postgresql+psycopg://onemap:x@127.0.0.1:{free_port()}/onemap"  # nobody listens
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")},
           "ONEMAP_DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("onemap: error: cannot reach the database ")
    assert lines[0].endswith("start it with `onemap db up`")

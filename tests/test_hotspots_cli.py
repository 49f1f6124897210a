"""``onemap hotspots …`` writes GeoJSON and GeoPackage files and fails in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import pytest
from test_hotspots_data import STEADY_CELL9, load

ONEMAP = [sys.executable, "-m", "api.cli"]


@pytest.fixture(scope="module")
def data(engine):
    load(engine)


def run(env, *args):
    return subprocess.run([*ONEMAP, "hotspots", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_gi_writes_geojson_with_parameters(data, db_env, tmp_path):
    out = tmp_path / "gi.geojson"
    r = run(db_env, "gi", "--res", "9", "--from", "2025-01-01", "--to", "2025-12-31",
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    fc = json.loads(out.read_text())
    assert fc["parameters"]["res"] == 9 and fc["parameters"]["incidents"] > 10_000
    props = {f["properties"]["h3"]: f["properties"] for f in fc["features"]}
    assert props[STEADY_CELL9]["class"] == "hot_99"
    assert "hot_99" in r.stdout and str(out) in r.stdout


def test_gi_and_emerging_write_geopackages(data, db_env, tmp_path):
    out = tmp_path / "hot.gpkg"
    r = run(db_env, "gi", "--significant-only", "--out", str(out))
    assert r.returncode == 0, r.stderr
    gdf = gpd.read_file(out)
    assert len(gdf) > 0 and (gdf["bin"] != 0).all() and gdf.crs.to_epsg() == 4326
    assert STEADY_CELL9 in set(gdf["h3"])
    out2 = tmp_path / "emerging.gpkg"
    r = run(db_env, "emerging", "--step", "month", "--from", "2025-01-01", "--to",
            "2025-12-31", "--out", str(out2))
    assert r.returncode == 0, r.stderr
    em = gpd.read_file(out2)
    assert {"h3", "category", "trend_z", "trend_p"} <= set(em.columns)
    assert "12 months" in r.stdout


def test_backtest_and_heatmap(data, db_env, tmp_path):
    out = tmp_path / "bt.json"
    r = run(db_env, "backtest", "--train-from", "2025-01-01", "--train-to", "2025-06-30",
            "--test-from", "2025-07-01", "--test-to", "2025-12-31", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["pai"] > 1 and "PAI" in r.stdout
    heat = tmp_path / "heat.json"
    r = run(db_env, "heatmap", "--bandwidth-m", "250", "--out", str(heat))
    assert r.returncode == 0, r.stderr
    assert json.loads(heat.read_text())["points"]


@pytest.mark.parametrize("args, message", [
    (["gi", "--res", "14", "--out", "x.geojson"], "res must be an H3 resolution"),
    (["gi", "--category", "ufo", "--out", "x.geojson"], "unknown category"),
    (["gi", "--out", "x.shp"], "--out must end with"),
    (["gi", "--from", "2040-01-01", "--out", "x.geojson"], "no incidents match"),
])
def test_errors_print_one_line_and_exit_non_zero(data, db_env, tmp_path, args, message):
    args = [a if a != "x.geojson" and a != "x.shp" else str(tmp_path / a) for a in args]
    r = run(db_env, *args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("onemap: error:") and message in lines[0]

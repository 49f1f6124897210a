"""``onemap grids …`` as a user runs it: subprocesses against the session database."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import geopandas as gpd
import pytest
import shapely
from test_grid_fixtures import PROJ, community_boxes, load_synthetic_city


def onemap(env, *args, ok=True):
    r = subprocess.run(
        [sys.executable, "-m", "api.cli", "grids", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if ok:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture()
def city(empty_db, db_env):
    ids = load_synthetic_city(empty_db)
    return db_env, ids["active"]


def test_redistrict_evaluate_diff_publish(city):
    env, active = city
    r = onemap(env, "redistrict", "--name", "cli draft", "--json")
    rep = json.loads(r.stdout)
    assert rep["within_band_share"] >= 0.99 and rep["grids"] > 100
    assert "6/6" in r.stderr  # the progress bar over communities
    draft = rep["plan"]
    ev = json.loads(onemap(env, "evaluate", "--plan", str(draft), "--json").stdout)
    assert ev["summary"]["grids"] == rep["grids"] and len(ev["grids"]) == rep["grids"]
    table = onemap(env, "evaluate", "--plan", str(draft)).stdout
    assert "within_band_share" in table and "community_too_small" in table
    d = json.loads(onemap(env, "diff", str(active), str(draft), "--json").stdout)
    assert d["buildings_moved"] > 0
    out = onemap(env, "publish", str(draft), "--version", str(rep["version"])).stdout
    assert f"plan {draft} active" in out
    assert "active" in onemap(env, "list").stdout


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp"])
def test_export_formats_and_members_csv(city, tmp_path, suffix):
    env, active = city
    path = tmp_path / f"grids{suffix}"
    onemap(env, "export", str(path), "--members", str(tmp_path / "m.csv"))
    gdf = gpd.read_file(path)
    assert len(gdf) == 6 and gdf.crs.to_epsg() == 4326
    assert gdf["households"].sum() > 30000
    with (tmp_path / "m.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["grid_code"] for r in rows)
    assert set(rows[0]) == {
        "building_id",
        "building_code",
        "households",
        "community_code",
        "grid_code",
    }


def test_overlay_cli(city, tmp_path):
    env, _ = city
    box = community_boxes()[1]
    path = tmp_path / "dept.geojson"
    gpd.GeoDataFrame(
        {"code": ["D1"]}, geometry=[PROJ.to_lonlat(shapely.box(*box.bounds))], crs=4326
    ).to_file(path)
    out = onemap(env, "overlay", str(path), "--out", str(tmp_path / "o.geojson")).stdout
    assert "match" in out
    layer = json.loads((tmp_path / "o.geojson").read_text(encoding="utf-8"))
    assert layer["features"][0]["properties"]["status"] == "match"


def test_errors_are_one_line(city, tmp_path):
    env, active = city
    r = onemap(env, "redistrict", "--plan", str(active), ok=False)
    assert r.returncode != 0 and r.stderr.strip().count("\n") == 0
    assert "only drafts" in r.stderr
    r = onemap(env, "export", str(tmp_path / "x.xyz"), ok=False)
    assert r.returncode != 0 and "unknown export format" in r.stderr
    r = onemap(env, "evaluate", "--plan", "9999", ok=False)
    assert r.returncode != 0 and "does not exist" in r.stderr

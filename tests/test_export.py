"""Export every layer in every format and load it back: the rows come back the same."""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from api.cli import main
from geo.crs import wgs84_to_gcj02
from geo.errors import InvalidInput
from geo.io.export import export_layer, read_layer
from geo.io.load import load_file
from geo.io.settings import IngestSettings
from geo.settings import LocalTimeSettings, ServiceAreaSettings

LOAD = Path(__file__).resolve().parent / "fixtures" / "load"
SOURCES = [("admin_areas", "admin_areas.geojson"), ("grids", "grids.geojson"),
           ("buildings", "buildings.geojson"), ("cameras", "cameras.csv"),
           ("incidents", "incidents.csv"), ("roads", "roads.geojson"),
           ("places", "places.geojson")]
FORMATS = ["geojson", "gpkg", "shp", "fgb", "parquet", "csv"]


@pytest.fixture()
def loaded_db(empty_db):
    for layer, name in SOURCES:
        load_file(empty_db, layer, LOAD / name, progress=False, area=ServiceAreaSettings(),
                  settings=IngestSettings())
    return empty_db


def snapshot(engine, layer: str) -> gpd.GeoDataFrame:
    frame = read_layer(engine, layer)
    key = "code" if "code" in frame.columns else ("external_id" if layer == "incidents" else "name")
    return frame.sort_values(key).reset_index(drop=True)


def assert_same(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    assert len(a) == len(b) > 0
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                  pd.DataFrame(b.drop(columns="geometry")), check_dtype=False)
    # Shapefiles store rings clockwise: compare normalised shapes.
    same = shapely.equals_exact(shapely.normalize(np.asarray(a.geometry.values)),
                                shapely.normalize(np.asarray(b.geometry.values)), tolerance=1e-12)
    assert same.all()


def reload(engine, layer: str, path: Path) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {layer}"))
    report = load_file(engine, layer, path, progress=False, area=ServiceAreaSettings(),
                       settings=IngestSettings())
    assert report.rejected == 0 and report.inserted == report.read


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_layer_round_trips(loaded_db, tmp_path, fmt):
    for layer, _ in SOURCES:
        if fmt == "shp" and layer == "places":
            continue  # points and polygons together: see test_shapefile_refuses_mixed_types
        before = snapshot(loaded_db, layer)
        path = tmp_path / f"{layer}.{fmt}"
        assert export_layer(loaded_db, layer, path,
                            timezone=LocalTimeSettings().local_timezone) == len(before)
        reload(loaded_db, layer, path)
        assert_same(before, snapshot(loaded_db, layer))


def test_csv_follows_the_contract(loaded_db, tmp_path):
    export_layer(loaded_db, "cameras", tmp_path / "c.csv",
                 timezone=LocalTimeSettings().local_timezone)
    export_layer(loaded_db, "grids", tmp_path / "g.csv",
                 timezone=LocalTimeSettings().local_timezone)
    export_layer(loaded_db, "incidents", tmp_path / "i.csv",
                 timezone=LocalTimeSettings().local_timezone)
    cams = pd.read_csv(tmp_path / "c.csv", dtype=str)
    assert list(cams.columns) == ["code", "name", "class", "kind", "azimuth", "fov", "range_m",
                                  "height_m", "tilt", "status", "lon", "lat"]
    source = pd.read_csv(LOAD / "cameras.csv", dtype=str).set_index("code")
    got = cams.set_index("code").loc[source.index]
    assert got["lon"].tolist() == source["lon"].tolist()  # full precision, same text
    grids = pd.read_csv(tmp_path / "g.csv", dtype=str)
    assert list(grids.columns) == ["code", "name", "community_code", "worker", "geometry"]
    assert grids["geometry"][0].startswith("MULTIPOLYGON (((")
    incidents = pd.read_csv(tmp_path / "i.csv", dtype=str).set_index("external_id")
    assert incidents.loc["E00001", "occurred_at"] == "2024-01-01T08:15:00+08:00"


def test_export_in_gcj02_and_back(loaded_db, tmp_path):
    before = snapshot(loaded_db, "cameras")
    path = tmp_path / "gcj.csv"
    export_layer(loaded_db, "cameras", path, crs="gcj02",
                 timezone=LocalTimeSettings().local_timezone)
    out = pd.read_csv(path, dtype={"code": str}).sort_values("code").reset_index(drop=True)
    gx, gy = wgs84_to_gcj02(before.geometry.x.to_numpy(), before.geometry.y.to_numpy())
    assert np.allclose(out["lon"], gx, atol=1e-12) and np.allclose(out["lat"], gy, atol=1e-12)
    with loaded_db.begin() as conn:
        conn.execute(text("DELETE FROM cameras"))
    load_file(loaded_db, "cameras", path, crs="gcj02", progress=False, area=ServiceAreaSettings(),
              settings=IngestSettings())
    after = snapshot(loaded_db, "cameras")
    assert shapely.equals_exact(np.asarray(before.geometry.values),
                                np.asarray(after.geometry.values), tolerance=1e-10).all()


def test_export_in_a_projected_crs(loaded_db, tmp_path):
    path = tmp_path / "cams.csv"
    export_layer(loaded_db, "cameras", path, crs="EPSG:4548",
                 timezone=LocalTimeSettings().local_timezone)
    table = pd.read_csv(path)
    assert {"x", "y"} <= set(table.columns) and table["x"].between(4e5, 6e5).all()


def test_shapefile_refuses_mixed_types(loaded_db, tmp_path):
    with pytest.raises(InvalidInput, match="a Shapefile holds one geometry type"):
        export_layer(loaded_db, "places", tmp_path / "p.shp",
                     timezone=LocalTimeSettings().local_timezone)


def test_reloading_an_export_adds_nothing(loaded_db, tmp_path):
    for layer, _ in SOURCES:
        path = tmp_path / f"{layer}.gpkg"
        n = export_layer(loaded_db, layer, path, timezone=LocalTimeSettings().local_timezone)
        report = load_file(loaded_db, layer, path, progress=False, area=ServiceAreaSettings(),
                           settings=IngestSettings())
        assert (report.inserted, report.skipped) == (0, n), layer


def test_export_cli(loaded_db, db_env, tmp_path, capsys, monkeypatch):
    path = tmp_path / "incidents.parquet"
    monkeypatch.setattr(sys, "argv", ["onemap", "export", "incidents", str(path)])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"incidents: wrote 40 rows to {path}"
    assert len(gpd.read_parquet(path)) == 40

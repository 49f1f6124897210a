"""Batch hotspots on a real Dask cluster (scheduler + two worker processes) equal the
service's on the small demo; the export is valid partitioned GeoParquet (geopandas and
GDAL read it); a killed worker's tasks are recomputed; a failed run leaves no file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import warnings
from zoneinfo import ZoneInfo

import geopandas as gpd
import h3
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from distributed import get_task_stream
from sqlalchemy import text

from geo.batch.cluster import dask_client
from geo.batch.dataset import Manifest
from geo.batch.hotspots import BatchHotspots
from geo.batch.settings import DaskSettings
from geo.db.engine import make_engine
from geo.hotspots.analyses import hotspot_cells
from geo.hotspots.params import hotspot_query
from geo.hotspots.runtime import HotspotService
from geo.hotspots.settings import HotspotSettings
from geo.settings import LocalTimeSettings, ServiceAreaSettings
from tests import _gdal_parquet as gdal_parquet
from tests._batch import onemap, task_workers


@pytest.fixture(scope="module")
def demo_engine(small_demo):
    eng = make_engine(small_demo)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def incidents_dir(small_demo, tmp_path_factory):
    """The small demo's incidents exported by the CLI (month × coarse cell)."""
    target = tmp_path_factory.mktemp("batch") / "incidents"
    run = onemap("batch", "export", "incidents", str(target),
                 env={"ONEMAP_DATABASE_URL": small_demo.database_url})
    assert run.returncode == 0, run.stderr
    assert "rows in" in run.stdout
    return target


def _service(engine, **query):
    settings = HotspotSettings()
    q = hotspot_query(settings, **query)
    return q, hotspot_cells(HotspotService(engine, settings, ServiceAreaSettings()), q)


def _assert_equal(batch: pd.DataFrame, svc: pd.DataFrame) -> None:
    assert batch["h3"].tolist() == svc["h3"].tolist()
    np.testing.assert_array_equal(batch["count"].to_numpy(), svc["count"].to_numpy())
    assert np.abs(batch["gi_z"].to_numpy() - svc["gi_z"].to_numpy()).max() < 1e-9
    np.testing.assert_allclose(batch["p_value"], svc["p_value"], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(batch["bin"].to_numpy(), svc["bin"].to_numpy())
    assert batch["class"].tolist() == svc["class"].tolist()


# --- export ---------------------------------------------------------------------------------


def test_export_partitions_are_geoparquet_with_a_true_manifest(incidents_dir, demo_engine):
    m = Manifest.read(incidents_dir)
    with demo_engine.connect() as conn:
        n, x0, y0, x1, y1 = conn.execute(text(
            "SELECT count(*), min(ST_X(geom)), min(ST_Y(geom)), max(ST_X(geom)), "
            "max(ST_Y(geom)) FROM incidents")).one()
    assert m.rows == n and m.bounds == [x0, y0, x1, y1]
    assert m.partition == ["month", "cell"] and len(m.files) > 12  # months × cells
    # Every row sits in the partition of its local month and coarse cell.
    table = ds.dataset(incidents_dir, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == n
    frame = table.to_pandas()
    geo = gpd.GeoSeries.from_wkb(frame["geometry"], crs=4326)
    cells = [h3.int_to_str(h3i.latlng_to_cell(y, x, m.partition_res))
             for x, y in zip(geo.x, geo.y, strict=True)]
    assert (frame["cell"].astype(str) == pd.Series(cells)).all()
    local = frame["occurred_at"].dt.tz_convert(ZoneInfo(m.timezone)).dt.strftime("%Y-%m")
    assert (frame["month"].astype(str) == local).all()
    assert frame["id"].is_unique
    # dask-geopandas reads the whole dataset (hive keys as columns, CRS from the metadata).
    import dask
    import dask_geopandas

    with dask.config.set(scheduler="synchronous"):
        ddf = dask_geopandas.read_parquet(incidents_dir)
        assert ddf.crs.equals("OGC:CRS84") and {"month", "cell"} <= set(ddf.columns)
        assert len(ddf.compute()) == n
    # Each file is GeoParquet 1.0.0 that geopandas reads with its CRS, rows as listed.
    for f in m.files[:5]:
        path = incidents_dir / f.path
        meta = json.loads(pq.read_schema(path).metadata[b"geo"])
        assert meta["version"] == "1.0.0" and meta["primary_column"] == "geometry"
        assert meta["columns"]["geometry"]["encoding"] == "WKB"
        gdf = gpd.read_parquet(path)
        assert len(gdf) == f.rows and gdf.crs.equals("OGC:CRS84")
        b = gdf.total_bounds
        assert list(b) == pytest.approx(f.bounds, abs=0)
        # GDAL reads it too: points, their count, the CRS and extent from the metadata.
        info = gdal_parquet.info(path)
        assert "Geometry: Point" in info and f"Feature Count: {f.rows}" in info
        by_gdal = gdal_parquet.read_dataframe(path)
        assert by_gdal.crs.equals("OGC:CRS84") and by_gdal["id"].tolist() == gdf["id"].tolist()
        assert by_gdal.geometry.geom_equals_exact(gdf.geometry, tolerance=0).all()


def test_export_refuses_an_existing_folder_and_leaves_nothing_on_failure(
        demo_engine, tmp_path, monkeypatch):
    from geo.batch import export as batch_export
    from geo.batch.settings import BatchSettings
    from geo.errors import InvalidInput

    (tmp_path / "taken").mkdir()
    with pytest.raises(InvalidInput, match="already exists"):
        batch_export.export_dataset(demo_engine, "incidents", tmp_path / "taken",
                                    settings=BatchSettings(), area=ServiceAreaSettings(),
                                    timezone=LocalTimeSettings().local_timezone)
    calls = {"n": 0}
    real = batch_export._write_chunk

    def fail_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_export, "_write_chunk", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        batch_export.export_dataset(demo_engine, "incidents", tmp_path / "new",
                                    settings=BatchSettings(chunk_rows=5_000),
                                    area=ServiceAreaSettings(),
                                    timezone=LocalTimeSettings().local_timezone)
    assert calls["n"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no folder, no temp


# --- hotspots equal to the service ----------------------------------------------------------


def test_batch_hotspots_equal_the_service_at_res_12_on_two_workers(
        incidents_dir, demo_engine, dask_cluster):
    q, svc = _service(demo_engine, res=12)
    with dask_client(scheduler=dask_cluster.scheduler_address, settings=DaskSettings()) as client:
        workers = set(client.scheduler_info()["workers"])
        assert len(workers) == 2
        pids = set(client.run(os.getpid).values())
        assert os.getpid() not in pids and len(pids) == 2  # worker processes, not threads
        with get_task_stream(client) as ts:
            job = BatchHotspots(client, incidents_dir, q).run()
    _assert_equal(job.frame_, svc)
    assert job.frame_["count"].sum() > 30_000 and (job.frame_["bin"] > 0).any()
    counted = task_workers(ts.data, "count_files")
    assert sum(counted.values()) == len(job.tasks)
    assert set(counted) == workers  # both workers counted files
    assert sum(task_workers(ts.data, "block_result").values()) == job.parameters_["blocks"]


def test_batch_hotspots_res_9_filtered_equal_the_service(incidents_dir, demo_engine,
                                                          dask_cluster):
    """Exact res-9 cells on both sides (the service counts exact cells, ARCHITECTURE.md §6)."""
    query = {"res": 9, "k": 2, "from_": "2026-03-01", "to": "2026-09-30",
             "category": "dispute,public_order,hazard"}
    q, svc = _service(demo_engine, **query)
    with dask_client(scheduler=dask_cluster.scheduler_address, settings=DaskSettings()) as client:
        job = BatchHotspots(client, incidents_dir, q).run()
    _assert_equal(job.frame_, svc)


def test_batch_counts_are_exact_cells_and_z_equals_esda(incidents_dir, dask_cluster):
    """Independent reference: pandas counts of h3.latlng_to_cell per incident, esda's Gi*."""
    import esda
    import libpysal

    q = hotspot_query(HotspotSettings(), res=9, category="dispute,hazard")
    with dask_client(scheduler=dask_cluster.scheduler_address, settings=DaskSettings()) as client:
        job = BatchHotspots(client, incidents_dir, q).run()
    frame = ds.dataset(incidents_dir, format="parquet", partitioning="hive").to_table(
        columns=["geometry", "category"]).to_pandas()
    geo = gpd.GeoSeries.from_wkb(frame["geometry"])
    keep = frame["category"].isin(["dispute", "hazard"]).to_numpy()
    cells = pd.Series([h3.latlng_to_cell(y, x, 9) for x, y in
                       zip(geo.x[keep], geo.y[keep], strict=True)]).value_counts()
    got = job.frame_.set_index("h3")["count"]
    assert got[got > 0].sort_index().to_dict() == cells.sort_index().to_dict()
    ids = job.frame_["h3"].tolist()
    where = {c: i for i, c in enumerate(ids)}
    neighbours = {i: [where[n] for n in h3.grid_disk(c, 1) if n in where and n != c]
                  for i, c in enumerate(ids)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.W(neighbours, silence_warnings=True)
        ref = esda.G_Local(job.frame_["count"].to_numpy(float), w, transform="B", star=True,
                           permutations=0).Zs
    assert np.abs(np.asarray(ref) - job.frame_["gi_z"].to_numpy()).max() < 1e-9


def test_a_killed_worker_s_tasks_are_recomputed(incidents_dir, demo_engine, dask_cluster):
    """Counts held by a worker that dies (SIGKILL) are recomputed; the answer is unchanged."""
    from distributed import wait

    q, svc = _service(demo_engine, res=12)
    with dask_client(scheduler=dask_cluster.scheduler_address, settings=DaskSettings()) as client:
        job = BatchHotspots(client, incidents_dir, q)
        parts = job.count()
        wait(parts)
        holders = client.who_has(parts)
        victim = max(set(client.scheduler_info()["workers"]),
                     key=lambda w: sum(w in h for h in holders.values()))
        lost = sum(victim in h for h in holders.values())
        assert lost > 0
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        with get_task_stream(client) as ts:
            job.finish(parts)
    _assert_equal(job.frame_, svc)
    assert sum(task_workers(ts.data, "count_files").values()) >= lost  # lost counts re-run
    assert victim not in {r["worker"] for r in ts.data}


def test_cli_hotspots_writes_geoparquet_that_geopandas_and_gdal_read(
        incidents_dir, demo_engine, dask_cluster, tmp_path):
    out = tmp_path / "cells.parquet"
    run = onemap("batch", "hotspots", str(incidents_dir), "--res", "12", "--out", str(out),
                 "--scheduler", dask_cluster.scheduler_address, env={})
    assert run.returncode == 0, run.stderr
    gdf = gpd.read_parquet(out)
    _, svc = _service(demo_engine, res=12)
    assert list(gdf.columns) == ["h3", "count", "gi_z", "p_value", "bin", "class", "geometry"]
    _assert_equal(pd.DataFrame(gdf.drop(columns="geometry")), svc)
    assert gdf.crs.equals("OGC:CRS84") and (gdf.geom_type == "Polygon").all()
    centre = gdf.geometry.iloc[0].representative_point()
    assert h3.latlng_to_cell(centre.y, centre.x, 12) == gdf["h3"].iloc[0]
    info = gdal_parquet.info(out)
    assert f"Feature Count: {len(gdf)}" in info and "Geometry: Polygon" in info
    for field in ("h3: String", "count: Integer64", "gi_z: Real", "p_value: Real",
                  "bin: Integer64", "class: String"):
        assert field in info
    by_gdal = gdal_parquet.read_dataframe(out)
    assert by_gdal.crs.equals("OGC:CRS84")
    _assert_equal(pd.DataFrame(by_gdal.drop(columns="geometry")), svc)
    assert by_gdal.geometry.geom_equals_exact(gdf.geometry, tolerance=0).all()


def test_gdal_check_needs_the_geoparquet_metadata(incidents_dir, tmp_path):
    """The GDAL check is of GeoParquet, not of Parquet: without the ``geo`` key GDAL sees
    no geometry and no CRS, only a binary column."""
    path = incidents_dir / Manifest.read(incidents_dir).files[0].path
    plain = tmp_path / "plain.parquet"
    pq.write_table(pq.read_table(path).replace_schema_metadata(None), plain)
    info = gdal_parquet.info(plain)
    assert "Geometry: None" in info and "geometry: Binary" in info
    assert "CRS84" not in info
    assert "Geometry: Point" in gdal_parquet.info(path)


def test_cli_failed_run_prints_one_line_and_writes_nothing(incidents_dir, dask_cluster,
                                                           tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(incidents_dir, broken)
    victim = broken / Manifest.read(broken).files[0].path
    victim.write_bytes(b"not parquet at all")
    out = tmp_path / "cells.parquet"
    run = onemap("batch", "hotspots", str(broken), "--res", "9", "--out", str(out),
                 "--scheduler", dask_cluster.scheduler_address, env={})
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith("onemap: error: batch hotspots failed")
    assert "Traceback" not in run.stderr
    assert list(tmp_path.glob("*cells*")) == []
    bad = onemap("batch", "hotspots", str(tmp_path), "--out", str(out),
                 "--scheduler", dask_cluster.scheduler_address, env={})
    assert bad.returncode != 0 and "not a batch dataset" in bad.stderr
    away = onemap("batch", "hotspots", str(incidents_dir), "--out", str(out),
                  "--scheduler", "tcp://127.0.0.1:9", env={"ONEMAP_DASK_CONNECT_TIMEOUT_S": "2"})
    assert away.returncode != 0 and "Traceback" not in away.stderr
    assert "cannot reach the Dask scheduler" in away.stderr.strip().splitlines()[-1]
    assert list(tmp_path.glob("*cells*")) == []

"""Batch emerging hot spots on two Dask worker processes equal the service's."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from distributed import get_task_stream

from geo.batch.cluster import dask_client
from geo.batch.emerging import BatchEmerging, bh_threshold
from geo.batch.settings import DaskSettings
from geo.db.engine import make_engine
from geo.hotspots.analyses import emerging_cells
from geo.hotspots.fdr import bh_reject
from geo.hotspots.params import emerging_query
from geo.hotspots.runtime import HotspotService
from geo.hotspots.settings import HotspotSettings
from geo.settings import ServiceAreaSettings
from tests import _gdal_parquet as gdal_parquet
from tests._batch import onemap, task_workers


@pytest.fixture(scope="module")
def incidents_dir(small_demo, tmp_path_factory):
    target = tmp_path_factory.mktemp("batch_em") / "incidents"
    run = onemap("batch", "export", "incidents", str(target),
                 env={"ONEMAP_DATABASE_URL": small_demo.database_url})
    assert run.returncode == 0, run.stderr
    return target


@pytest.mark.parametrize("query", [{"res": 12, "step": "week"},
                                   {"res": 12, "step": "month", "time_window": 1, "k": 2},
                                   {"res": 9, "step": "week"},
                                   {"res": 12, "step": "week", "from_": "2026-03-01",
                                    "to": "2026-10-31", "source": "12345,110"}])
def test_batch_emerging_equals_the_service(small_demo, incidents_dir, dask_cluster, query):
    eng = make_engine(small_demo)
    try:
        settings = HotspotSettings()
        q = emerging_query(settings, **query)
        svc = emerging_cells(HotspotService(eng, settings, ServiceAreaSettings()), q)
    finally:
        eng.dispose()
    with dask_client(scheduler=dask_cluster.scheduler_address, settings=DaskSettings()) as client:
        with get_task_stream(client) as ts:
            job = BatchEmerging(client, incidents_dir, q).run()
    got = job.frame_
    assert got["h3"].tolist() == svc["h3"].tolist()
    assert got["category"].tolist() == svc["category"].tolist()
    for col in ("count", "hot_steps", "cold_steps"):
        np.testing.assert_array_equal(got[col].to_numpy(), svc[col].to_numpy())
    for col in ("trend_z", "last_z"):
        assert np.abs(got[col].to_numpy() - svc[col].to_numpy()).max() < 1e-9
    assert (got["category"] != "none").sum() >= 5  # patterns were found, not all "none"
    assert set(task_workers(ts.data, "cube_files")) == set(client_workers(dask_cluster))


def client_workers(cluster) -> set[str]:
    return {w.worker_address for w in cluster.workers.values()}


def test_bh_threshold_from_small_p_values_equals_bh_over_all():
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0, 1, 5000), rng.uniform(0, 0.002, 200)])
    for q in (0.01, 0.05, 0.10):
        thr = bh_threshold(p[p <= q], len(p), q)
        np.testing.assert_array_equal(p <= thr, bh_reject(p, q))
    assert bh_threshold(np.array([]), 10, 0.05) == -1.0


def test_cli_emerging_writes_geoparquet(incidents_dir, dask_cluster, tmp_path):
    out = tmp_path / "emerging.parquet"
    run = onemap("batch", "emerging", str(incidents_dir), "--res", "10", "--out", str(out),
                 "--scheduler", dask_cluster.scheduler_address, env={})
    assert run.returncode == 0, run.stderr
    gdf = gpd.read_parquet(out)
    assert list(gdf.columns)[:2] == ["h3", "category"] and len(gdf) > 100
    assert gdf.crs.equals("OGC:CRS84")
    info = gdal_parquet.info(out)  # GDAL reads it too
    assert f"Feature Count: {len(gdf)}" in info and "Geometry: Polygon" in info
    by_gdal = gdal_parquet.read_dataframe(out)
    assert by_gdal.crs.equals("OGC:CRS84") and by_gdal["h3"].tolist() == gdf["h3"].tolist()
    assert by_gdal.geometry.geom_equals_exact(gdf.geometry, tolerance=0).all()

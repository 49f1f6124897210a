"""Batch camera views on two Dask worker processes equal ``onemap coverage refresh``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from distributed import get_task_stream
from sqlalchemy import text

from geo.batch.cluster import dask_client
from geo.batch.coverage import BatchViews
from geo.batch.export import export_dataset
from geo.batch.settings import BatchSettings, DaskSettings
from geo.coverage.settings import CoverageSettings
from geo.db.engine import make_engine
from geo.settings import LocalTimeSettings, ServiceAreaSettings
from tests._batch import task_workers


def test_batch_views_equal_the_service_refresh(small_demo_copy, dask_cluster, tmp_path):
    from geo.coverage.views import refresh_all

    eng = make_engine(small_demo_copy)
    try:
        report = refresh_all(eng, settings=CoverageSettings(), area=ServiceAreaSettings())
        with eng.connect() as conn:
            svc = pd.DataFrame(conn.execute(text(
                "SELECT camera_id, area_m2, ST_AsBinary(geom) AS view FROM camera_views "
                "ORDER BY camera_id")).all(), columns=["camera_id", "area_m2", "view"])
        # res-8 partitions (≈ 0.7 km²) so that the small demo spans many of them and
        # buildings near a partition's edge come from the halo.
        small = BatchSettings(partition_res=8)
        export_dataset(eng, "cameras", tmp_path / "cameras", settings=small,
                       area=ServiceAreaSettings(), timezone=LocalTimeSettings().local_timezone)
        export_dataset(eng, "buildings", tmp_path / "buildings", settings=small,
                       area=ServiceAreaSettings(), timezone=LocalTimeSettings().local_timezone)
    finally:
        eng.dispose()
    with dask_client(scheduler=dask_cluster.scheduler_address, settings=DaskSettings()) as client:
        with get_task_stream(client) as ts:
            job = BatchViews(client, tmp_path / "cameras", tmp_path / "buildings").run()
    got = job.frame_
    assert len(job.partitions_) > 10
    assert len(set(task_workers(ts.data, "partition_views"))) == 2
    assert got["camera_id"].tolist() == svc["camera_id"].tolist() and len(got) == report.views
    np.testing.assert_allclose(got["area_m2"], svc["area_m2"], rtol=1e-9, atol=1e-6)
    a = shapely.from_wkb([None if v is None else bytes(v) for v in got["view"]])
    b = shapely.from_wkb([None if v is None else bytes(v) for v in svc["view"]])
    assert (shapely.is_missing(a) == shapely.is_missing(b)).all()
    both = ~shapely.is_missing(a)
    diff = shapely.area(shapely.symmetric_difference(a[both], b[both]))
    assert diff.max() < 1e-14  # deg² ≈ 1e-4 m²
    assert job.partitions_["views"].sum() == report.views
    assert job.partitions_["blocked"].sum() == report.blocked
    assert abs(job.partitions_["view_area_m2"].sum() - svc["area_m2"].sum()) < 1e-6


def test_cli_coverage_writes_views_as_geoparquet(small_demo, dask_cluster, tmp_path):
    import json

    import geopandas as gpd
    import pyarrow.parquet as pq

    from tests import _gdal_parquet as gdal_parquet
    from tests._batch import onemap

    env = {"ONEMAP_DATABASE_URL": small_demo.database_url}
    for layer in ("cameras", "buildings"):
        run = onemap("batch", "export", layer, str(tmp_path / layer), env=env)
        assert run.returncode == 0, run.stderr
    out = tmp_path / "views.parquet"
    run = onemap("batch", "coverage", str(tmp_path / "cameras"), str(tmp_path / "buildings"),
                 "--out", str(out), "--scheduler", dask_cluster.scheduler_address, env=env)
    assert run.returncode == 0, run.stderr
    gdf = gpd.read_parquet(out)
    assert list(gdf.columns) == ["camera_id", "area_m2", "geometry"] and len(gdf) > 100
    assert gdf.crs.equals("OGC:CRS84")
    # The declared geometry types are the ones written (GeoParquet), and GDAL reads them.
    meta = json.loads(pq.read_schema(out).metadata[b"geo"])["columns"]["geometry"]
    written = set(gdf.geom_type[~(gdf.geometry.is_empty | gdf.geometry.isna())])
    assert written <= set(meta["geometry_types"])
    info = gdal_parquet.info(out)
    assert f"Feature Count: {len(gdf)}" in info and 'ID["OGC","CRS84"]' in info
    by_gdal = gdal_parquet.read_dataframe(out)
    assert by_gdal["camera_id"].tolist() == gdf["camera_id"].tolist()
    assert by_gdal.geometry.geom_equals_exact(gdf.geometry, tolerance=0).all()
    assert (gdf.geometry.is_empty | gdf.geometry.isna() | (gdf["area_m2"] > 0)).all()

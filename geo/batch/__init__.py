"""Province-scale batch analyses on Dask over partitioned GeoParquet.

The service answers one city from PostGIS; a province's history (10^8 incidents,
10^6 cameras) is analysed here, on ``dask.distributed`` — a ``LocalCluster`` by
default, any scheduler by address — with the same definitions as the service:

* :mod:`~geo.batch.dataset` — the partitioned GeoParquet layout and its manifest;
* :mod:`~geo.batch.export` — PostGIS → partitions, streamed in chunks;
* :mod:`~geo.batch.cluster` — the Dask client (local cluster or address);
* :mod:`~geo.batch.counts` — per-partition work on the workers (exact H3 cells);
* :mod:`~geo.batch.gistar` — Gi* per block of cells with its k-ring halo;
* :mod:`~geo.batch.hotspots`, :mod:`~geo.batch.emerging` — the batch analyses;
* :mod:`~geo.batch.coverage` — camera views per partition with a halo of buildings.

No HTTP and no CLI here (``api/cli/batch.py`` drives it).
"""

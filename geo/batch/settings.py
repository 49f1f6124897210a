"""Settings of the batch analyses.

The Dask cluster (``ONEMAP_DASK_*``) and the jobs (``ONEMAP_BATCH_*``).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from geo.settings_base import concern


class DaskSettings(BaseSettings):
    """Where batch work runs: an existing scheduler, or a local cluster of this size."""

    model_config = concern("DASK")

    scheduler: str | None = Field(
        None, description="address of an existing Dask scheduler (tcp://host:8786); "
                          "unset → a LocalCluster on this machine")
    workers: int = Field(2, ge=1, le=256, description="worker processes of the LocalCluster")
    threads_per_worker: int = Field(1, ge=1, le=64,
                                    description="threads per LocalCluster worker")
    memory_per_worker: str = Field("2GiB", description="memory limit of each LocalCluster "
                                                       "worker (Dask syntax, e.g. 2GiB)")
    connect_timeout_s: float = Field(30.0, gt=0, description="seconds to wait for the "
                                      "scheduler to answer")


class BatchSettings(BaseSettings):
    """Partitioning and limits of the batch jobs."""

    model_config = concern("BATCH")

    partition_res: int = Field(
        6, ge=0, le=8, description="H3 resolution of the coarse spatial partitions "
                                   "(res 6 ≈ 36 km² a cell)")
    chunk_rows: int = Field(200_000, ge=1_000, description="rows read from PostGIS per chunk "
                                                           "while exporting")
    max_cells: int = Field(50_000_000, ge=100, description="largest study (H3 cells) a batch "
                                                           "analysis accepts")
    task_rows: int = Field(500_000, ge=1_000, description="rows counted per task at most; "
                                                           "small partition files are grouped")
    block_cells: int = Field(200_000, ge=1_000, description="most cells per Gi* block task; "
                                                            "larger partitions are split")

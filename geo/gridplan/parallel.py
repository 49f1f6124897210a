"""Regions districted side by side in worker processes.

Communities are independent, so their :class:`RegionDistricting` runs can go to
separate processes. Small jobs (few regions or few buildings) stay in-process:
handing a region to a worker and its grids back costs more than districting it.
The workers come from joblib's reusable loky executor, which starts its
processes clean (no fork of a threaded server) and keeps them between calls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from geo.gridplan.compiled import load_compiled
from geo.gridplan.districting import RegionDistricting
from geo.gridplan.settings import GridPlanSettings


@dataclass(frozen=True)
class RegionJob:
    """One region to district: metric polygon, building points, households, barriers."""

    region: object
    points: np.ndarray
    households: np.ndarray
    barriers: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Buildings of the job."""
        return len(self.points)


@dataclass(frozen=True)
class Parallelism:
    """When and how wide to run regions in worker processes.

    Parameters
    ----------
    workers : int
        Worker processes; 1 keeps everything in-process.
    min_buildings : int
        Fewest buildings over all regions for which workers are used.
    min_regions : int
        Fewest regions for which workers are used.
    """

    workers: int = 1
    min_buildings: int = 3_000
    min_regions: int = 4

    @classmethod
    def from_settings(cls, s: GridPlanSettings) -> Parallelism:
        """``ONEMAP_GRID_WORKERS`` and ``ONEMAP_GRID_PARALLEL_MIN_BUILDINGS``."""
        return cls(workers=s.grid_workers, min_buildings=s.grid_parallel_min_buildings)

    def use_workers(self, jobs: Sequence[RegionJob]) -> bool:
        """Whether ``jobs`` are worth sending to worker processes."""
        return (
            self.workers > 1
            and len(jobs) >= self.min_regions
            and sum(j.size for j in jobs) >= self.min_buildings
        )


def district_regions(
    jobs: Sequence[RegionJob], make: RegionDistricting, parallel: Parallelism | None = None
) -> list[RegionDistricting]:
    """Fit a copy of ``make`` (an unfitted :class:`RegionDistricting`) to every job, in order.

    The result does not depend on where a job ran: every fit is deterministic.

    Examples
    --------
    >>> import shapely
    >>> pts = np.array([[x, y] for x in range(0, 60, 10) for y in range(0, 50, 10)], float)
    >>> job = RegionJob(shapely.box(-5, -5, 55, 45), pts, np.full(30, 20.0))
    >>> [r.n_grids_ for r in district_regions([job, job], RegionDistricting(300))]
    [2, 2]
    """
    parallel = parallel or Parallelism()
    params = make.get_params()
    if not parallel.use_workers(jobs):
        return [_fit(params, j) for j in jobs]
    executor = _executor(parallel.workers)
    order = sorted(range(len(jobs)), key=lambda i: expected_work(jobs[i], params["target"]))
    futures = {i: executor.submit(_fit, params, jobs[i]) for i in order}
    return [futures[i].result() for i in range(len(jobs))]


def expected_work(job: RegionJob, target: float) -> tuple[int, int]:
    """A sort key putting the costliest regions first, so no worker is left with one at the end.

    Towers (buildings of a third of a grid's households or more) cost far more
    than their number of buildings says: grouping them exactly and proving
    their contiguity is where the time goes (10k subset: a community of 58
    buildings, 30 of them towers, takes five times one of 685 buildings, 13
    towers). So: towers first, then buildings.
    """
    towers = int(np.count_nonzero(np.asarray(job.households) >= target / 3))
    return -towers, -job.size


def warm_up(parallel: Parallelism) -> None:
    """Start the worker processes (each loads the compiled parts as it starts)."""
    if parallel.workers <= 1:
        return
    list(_executor(parallel.workers).map(_ready, range(parallel.workers)))


def _executor(workers: int):
    """The reusable worker pool.

    Every worker, restarted ones too, first loads the compiled parts
    (:func:`~geo.gridplan.compiled.load_compiled`), so that no job waits for them.
    """
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=workers, timeout=600, initializer=load_compiled)


def _ready(_: int) -> bool:
    return RegionDistricting is not None


def _fit(params: dict, job: RegionJob) -> RegionDistricting:
    t0 = time.perf_counter()
    rd = RegionDistricting(**params).fit(job.region, job.points, job.households, job.barriers)
    rd.seconds_ = time.perf_counter() - t0
    return rd.slim()

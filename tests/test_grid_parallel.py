"""Communities districted in worker processes give what in-process districting gives (issue 19)."""

from __future__ import annotations

import numpy as np
import shapely

from geo.gridplan.districting import RegionDistricting
from geo.gridplan.parallel import Parallelism, RegionJob, district_regions, expected_work


def _jobs(n: int) -> list[RegionJob]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        pts = rng.uniform(0, 400, size=(60 + 10 * i, 2))
        hh = rng.integers(5, 40, size=len(pts)).astype(float)
        out.append(RegionJob(shapely.box(-10, -10, 410, 410), pts, hh))
    return out


def test_workers_answer_as_in_process_and_in_order():
    jobs = _jobs(5)
    make = RegionDistricting(300, 0.15, seed=3)
    serial = district_regions(jobs, make, Parallelism(workers=1))
    forced = Parallelism(workers=2, min_buildings=0, min_regions=2)
    assert forced.use_workers(jobs)
    parallel = district_regions(jobs, make, forced)
    assert len(parallel) == len(jobs)
    for a, b, job in zip(serial, parallel, jobs, strict=True):
        assert len(b.labels_) == job.size  # in the order asked, not the order run
        assert np.array_equal(a.labels_, b.labels_)
        assert np.array_equal(a.households_, b.households_)
        assert a.crossing_share() == b.crossing_share()
        assert all(pa.equals(pb) for pa, pb in zip(a.polygons_, b.polygons_, strict=True))
        assert b.graph_ is None  # slimmed before crossing back


def test_small_jobs_stay_in_process():
    jobs = _jobs(2)
    p = Parallelism(workers=2, min_buildings=3_000, min_regions=4)
    assert not p.use_workers(jobs)
    assert not Parallelism(workers=1, min_buildings=0, min_regions=1).use_workers(_jobs(6))
    fits = district_regions(jobs, RegionDistricting(300), p)
    assert [len(f.labels_) for f in fits] == [j.size for j in jobs]


def test_tower_regions_go_to_the_workers_first():
    box = shapely.box(0, 0, 10, 10)
    spread = RegionJob(box, np.zeros((600, 2)), np.full(600, 20.0))  # many small buildings
    towers = RegionJob(box, np.zeros((60, 2)), np.r_[np.full(30, 150.0), np.zeros(30)])
    few = RegionJob(box, np.zeros((60, 2)), np.r_[np.full(5, 150.0), np.zeros(55)])
    jobs = [spread, few, towers]
    order = sorted(range(3), key=lambda i: expected_work(jobs[i], 300))
    assert order == [2, 1, 0]  # 30 towers, then 5, then none (600 buildings or not)


def _compiled_here(_: int) -> tuple[int, bool]:
    """In a worker: its pid and whether every compiled loop is loaded (before any job ran)."""
    import os

    from geo.gridplan import cutpoints, linkpaths, localsearch, pieces, spanning

    loops = [localsearch._search, pieces._connect, spanning._forest, linkpaths._join,
             linkpaths._near, cutpoints._needed]
    return os.getpid(), all(loop.signatures for loop in loops)


def test_every_worker_loads_the_compiled_loops_as_it_starts():
    from geo.gridplan.parallel import _executor, warm_up

    par = Parallelism(workers=2, min_buildings=0, min_regions=2)
    warm_up(par)
    answers = list(_executor(2).map(_compiled_here, range(8)))
    assert all(loaded for _, loaded in answers)

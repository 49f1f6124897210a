"""Batch hotspots on Dask: 10^6 and 10^7 synthetic incidents, 1 and 2 workers.

Usage: ``python bench/batch.py [--sizes 1000000,10000000] [--res 9]``

The synthetic datasets (a 36 × 36 km district near Zibo: background plus
clusters, 12 months, six categories, five sources) are written once to
``bench/.work/batch_<n>/`` in the export's layout (month × H3 res-6 cell,
GeoParquet) and reused. For each size it measures:

* batch Gi* at res 9 (k = 1) on a fresh ``LocalCluster`` of 1 and of 2 worker
  processes (one thread each, 2 GiB limit): wall time of the job (cluster start
  excluded) and the peak RSS of each worker (sampled every 20 ms);
* the single-process service path on the same data: the service's in-memory
  analysis (``IncidentColumns`` → study → counts → ``GiStar``) from columns
  already in memory, and the whole single-process pipeline from the same files
  (read, exact cells, count, Gi*), checked equal to the batch result (z to 1e-9).

Writes the "Batch hotspots on Dask" section of bench/RESULTS.md with the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

WORK = HERE / ".work"
CENTRE = (118.05, 36.80)
HALF_DEG = (0.20, 0.16)  # ≈ 36 km × 36 km


def synthetic(n: int, folder: Path, seed: int = 7) -> Path:
    """Write ``n`` synthetic incidents as a batch dataset (once)."""
    import h3.api.basic_int as h3i
    import pyarrow as pa
    import shapely

    from geo.batch import dataset
    from geo.batch.export import arrow_schema
    from geo.hotspots.params import CATEGORIES, SOURCES

    if (folder / dataset.MANIFEST).exists():
        return folder
    rng = np.random.default_rng(seed)
    schema = arrow_schema("incidents")
    manifest = dataset.Manifest("incidents", 6, ["month", "cell"], timezone="Asia/Shanghai",
                                source={"synthetic": n, "seed": seed})
    centres = np.column_stack([rng.uniform(-1, 1, 40) * HALF_DEG[0] + CENTRE[0],
                               rng.uniform(-1, 1, 40) * HALF_DEG[1] + CENTRE[1]])
    with dataset.atomic_dir(folder) as tmp:
        per_month = np.full(12, n // 12)
        per_month[: n % 12] += 1
        next_id = 1
        for m, count in enumerate(per_month):
            month = f"2025-{m + 1:02d}"
            clustered = rng.random(count) < 0.3
            which = rng.integers(0, len(centres), count)
            lon = np.where(clustered, centres[which, 0] + rng.normal(0, 0.004, count),
                           CENTRE[0] + rng.uniform(-1, 1, count) * HALF_DEG[0])
            lat = np.where(clustered, centres[which, 1] + rng.normal(0, 0.003, count),
                           CENTRE[1] + rng.uniform(-1, 1, count) * HALF_DEG[1])
            start = np.datetime64(f"{month}-01T00:00:00") - np.timedelta64(8, "h")
            t = start + rng.integers(0, 28 * 86_400 * 10**6, count).astype("timedelta64[us]")
            cells = np.fromiter((h3i.latlng_to_cell(y, x, 6) for x, y in
                                 zip(lon.tolist(), lat.tolist(), strict=True)), np.int64, count)
            ids = np.arange(next_id, next_id + count)
            next_id += count
            cols = {"id": ids, "external_id": ids.astype(str), "source":
                    np.array(SOURCES)[rng.integers(0, len(SOURCES), count)],
                    "category": np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), count)],
                    "occurred_at": t, "status": np.full(count, "received")}
            wkb = shapely.to_wkb(shapely.points(lon, lat))
            for cell in np.unique(cells):
                rows = np.flatnonzero(cells == cell)
                arrays = []
                for f in schema:
                    if f.name == "geometry":
                        arrays.append(pa.array(wkb[rows].tolist(), type=pa.binary()))
                    elif f.name in cols:
                        arrays.append(pa.array(cols[f.name][rows], type=f.type))
                    else:
                        arrays.append(pa.nulls(len(rows), type=f.type))
                table = pa.Table.from_arrays(arrays, schema=schema)
                key = h3i.int_to_str(int(cell))
                rel = f"{dataset.partition_dir(month, key)}/part-0.parquet"
                bounds = [float(lon[rows].min()), float(lat[rows].min()),
                          float(lon[rows].max()), float(lat[rows].max())]
                dataset.write_part(tmp, rel, table, ["Point"], bounds)
                manifest.files.append(dataset.PartFile(rel, key, month, len(rows), bounds))
        dataset.write_manifest(tmp, manifest)
    return folder


def _start_sampler(dask_worker) -> None:
    """Sample this worker process's RSS every 20 ms in a daemon thread (max kept).

    ``ru_maxrss`` is no use here: a worker process is forked from a large parent and
    keeps the parent's peak across ``exec``.
    """
    import threading

    import psutil

    proc = psutil.Process()
    dask_worker.bench_peak = proc.memory_info().rss

    def loop():
        while True:
            dask_worker.bench_peak = max(dask_worker.bench_peak, proc.memory_info().rss)
            time.sleep(0.02)

    threading.Thread(target=loop, daemon=True, name="bench-rss").start()


def _warm() -> None:
    """Import what the tasks use, as a long-running cluster already has."""
    import pyarrow.dataset  # noqa: F401

    import geo.batch.counts  # noqa: F401
    import geo.batch.gistar  # noqa: F401
    import geo.batch.hotspots  # noqa: F401


def _peak_rss_mib(dask_worker) -> float:
    return dask_worker.bench_peak / 2**20


def _cpu_seconds() -> float:
    """User + system CPU seconds of this worker process so far."""
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def batch_run(folder: Path, workers: int, res: int):
    """(seconds, peak MiB per worker, job, CPU seconds of the workers) of one batch run.

    The run is on a fresh cluster; the CPU seconds are what the worker processes got
    during the job (on a shared machine, fewer than ``workers`` × wall time).
    """
    from distributed import Client, LocalCluster

    from geo.batch.hotspots import BatchHotspots
    from geo.hotspots.params import hotspot_query
    from geo.hotspots.settings import HotspotSettings

    q = hotspot_query(HotspotSettings(), res=res)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      memory_limit="2GiB", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(_warm)
        client.run(_start_sampler)
        cpu0 = sum(client.run(_cpu_seconds).values())
        t0 = time.perf_counter()
        job = BatchHotspots(client, folder, q).run()
        seconds = time.perf_counter() - t0
        cpu = sum(client.run(_cpu_seconds).values()) - cpu0
        peaks = sorted(client.run(_peak_rss_mib).values())
    return seconds, peaks, job, cpu


def service_run(folder: Path, res: int):
    """The single-process paths: (analysis s, whole pipeline s, frame of exact counts)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from geo.batch.counts import Points, point_xy
    from geo.batch.dataset import Manifest
    from geo.batch.hotspots import study_area
    from geo.h3cells import RESOLUTIONS
    from geo.hotspots.cells import polyfill, to_str
    from geo.hotspots.gistar import GiStar
    from geo.hotspots.params import CATEGORIES, SOURCES
    from geo.hotspots.settings import HotspotSettings
    from geo.hotspots.snapshot import IncidentColumns
    from geo.hotspots.study import Study, with_incident_cells

    settings = HotspotSettings()
    area, _ = study_area(Manifest.read(folder), settings)
    t0 = time.perf_counter()
    table = ds.dataset(folder, format="parquet", partitioning="hive").to_table(
        columns=["geometry", "occurred_at", "category", "source"])
    lon, lat = point_xy(table["geometry"])
    pts = Points(lon, lat, table["occurred_at"].cast("int64").to_numpy(), None, None)
    exact = pts.cells(res)
    study = Study(res, with_incident_cells(polyfill(area, res), np.unique(exact), None), "x")
    counts = np.bincount(study.index_of(exact), minlength=len(study))
    gi = GiStar(settings.alpha).fit(counts, study.weights(1))
    pipeline = time.perf_counter() - t0
    # The service's own in-memory path: columns as its snapshot holds them (the exact cell
    # per resolution, codes), then study, counts and Gi* as HotspotService does per request.
    # Only the analysed resolution's column is filled (the others are not read).
    cells = np.zeros((len(RESOLUTIONS), len(exact)), dtype=np.int64)  # a row per resolution
    cells[RESOLUTIONS.index(res)] = exact
    cat = pc.index_in(table["category"], value_set=pa.array(CATEGORIES)).to_numpy(False)
    src = pc.index_in(table["source"], value_set=pa.array(SOURCES)).to_numpy(False)
    cols = IncidentColumns(1, cells, pts.t_us, cat.astype(np.int8), src.astype(np.int8))
    del table
    t1 = time.perf_counter()
    svc_study = Study(res, with_incident_cells(polyfill(area, res), cols.distinct_cells(res),
                                               None), "x")
    idx = cols.cell_index(res, svc_study.cells)
    svc_counts = np.bincount(idx, minlength=len(svc_study) + 1)[: len(svc_study)]
    svc = GiStar(settings.alpha).fit(svc_counts, svc_study.weights(1))
    analysis = time.perf_counter() - t1
    import pandas as pd

    assert (svc_study.cells == study.cells).all() and (svc_counts == counts).all()
    assert np.abs(svc.z_ - gi.z_).max() < 1e-9
    frame = pd.DataFrame({"h3": to_str(study.cells), "count": counts, "gi_z": gi.z_})
    return analysis, pipeline, frame


def _kept_rows(sizes: list[str]) -> list[str]:
    """Rows of sizes not run this time, kept from the current section (with their notes)."""
    from bench._results import RESULTS

    if not RESULTS.exists():
        return []
    text = RESULTS.read_text(encoding="utf-8")
    start = text.find("## Batch hotspots on Dask\n")
    if start == -1:
        return []
    end = text.find("\n## ", start + 10)
    section = text[start:end if end != -1 else None].splitlines()
    ran = {f"{int(s):,}" for s in sizes}
    return [ln for ln in section if ln.startswith("| ") and ln[2:3].isdigit()
            and ln.split("|")[1].strip() not in ran]


def main(argv: list[str]) -> int:
    from bench._results import write_section

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--res", type=int, default=9)
    args = ap.parse_args(argv)
    WORK.mkdir(exist_ok=True)
    lines = ["| incidents | files | cells | 1 worker | 2 workers | speed-up | peak RSS per "
             "worker (1 / 2 workers) | service analysis in memory | single-process pipeline "
             "| max \\|Δz\\| | worker CPU-s (1 / 2 workers) | cores the workers got (1 / 2) "
             "| load before / after |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in (int(s) for s in args.sizes.split(",")):
        t = time.perf_counter()
        folder = synthetic(n, WORK / f"batch_{n}")
        print(f"data {n}: {time.perf_counter() - t:.1f} s", flush=True)
        load0 = os.getloadavg()[0]
        one, peak1, job1, cpu1 = batch_run(folder, 1, args.res)
        print(f"1 worker {one:.1f} s, cpu {cpu1:.1f} s, peak {peak1} MiB", flush=True)
        two, peak2, job2, cpu2 = batch_run(folder, 2, args.res)
        print(f"2 workers {two:.1f} s, cpu {cpu2:.1f} s, peak {peak2} MiB", flush=True)
        load1 = os.getloadavg()[0]
        analysis, pipeline, ref = service_run(folder, args.res)
        print(f"service analysis {analysis:.2f} s, pipeline {pipeline:.1f} s", flush=True)
        assert job2.frame_["h3"].tolist() == ref["h3"].tolist()
        assert (job2.frame_["count"].to_numpy() == ref["count"].to_numpy()).all()
        dz = float(np.abs(job2.frame_["gi_z"].to_numpy() - ref["gi_z"].to_numpy()).max())
        assert dz < 1e-9 and job1.frame_.equals(job2.frame_)
        lines.append(f"| {n:,} | {job2.parameters_['files']} | {len(ref):,} | {one:.1f} s | "
                     f"{two:.1f} s | {one / two:.2f}× | {max(peak1):.0f} MiB / "
                     f"{max(peak2):.0f} MiB | {analysis:.2f} s | {pipeline:.1f} s | {dz:.1e} | "
                     f"{cpu1:.1f} / {cpu2:.1f} | {cpu1 / one:.2f} / {cpu2 / two:.2f} | "
                     f"{load0:.2f} / {load1:.2f} |")
    lines[2:2] = _kept_rows(args.sizes.split(","))
    load = os.getloadavg()
    note = ("Res {res}, k = 1, no filter; a fresh LocalCluster per run (one thread per worker "
            "process, 2 GiB limit), wall time of the job without the cluster's start "
            "(workers have imported the code). Peak RSS is the largest resident size of any "
            "worker process, sampled every 20 ms. *Service analysis in memory* is the "
            "service's per-request path (study, counts from its stored exact cells, Gi*, FDR) "
            "once its snapshot is loaded, checked equal to the batch; *single-process "
            "pipeline* does the batch's work in one process (read the files, exact cells, "
            "count, Gi*). *Worker CPU-s* is the user + system time the worker processes "
            "got during the job and *cores the workers got* that divided by the wall time: "
            "on a free machine ≈ 1 and ≈ 2, on a shared one what the other jobs left. "
            "*Load* is the 1-minute load average before the 1-worker run and after the "
            "2-worker run of that size. Load average at the end of the last run ({sizes}): "
            "{load} on {cpus} cores shared with other jobs.")
    lines += ["", note.format(res=args.res, sizes=", ".join(args.sizes.split(",")),
                              load=" / ".join(f"{v:.2f}" for v in load), cpus=os.cpu_count())]
    write_section("## Batch hotspots on Dask", lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

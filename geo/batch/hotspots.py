"""Batch Gi* hotspots on Dask, equal to the service's ``/api/v1/hotspots``.

Steps, each on the workers:

1. per file: every incident's exact H3 cell at ``res``; counts of the filtered
   incidents per cell and the distinct cells of all incidents;
2. reduce: counts summed over files (a tree of merge tasks);
3. the study: the service's rule — cells whose centre is in the study area
   (the top admin level recorded at export, else the incidents' extent grown
   by ``ONEMAP_HOTSPOT_AREA_BUFFER_M``) plus every cell holding an incident of
   any time and category; zeros included;
4. per block of cells (a coarse parent cell): Gi* with the block's k-ring halo
   (``geo.batch.gistar``);
5. on the client: two-sided p-values and the service's Benjamini–Hochberg bins
   (``geo.hotspots.fdr``) over all cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from shapely import wkb as shapely_wkb

from geo.batch import counts, gistar
from geo.batch.cluster import task_errors, tree_reduce
from geo.batch.dataset import Manifest
from geo.batch.output import outlines
from geo.batch.settings import BatchSettings
from geo.errors import InvalidInput, NotEnoughData
from geo.hotspots.cells import polyfill
from geo.hotspots.fdr import class_labels, fdr_bins
from geo.hotspots.gistar import two_sided_p
from geo.hotspots.params import EmergingQuery, HotspotQuery
from geo.hotspots.settings import HotspotSettings
from geo.hotspots.study import check_size, extent_area, with_incident_cells


def study_area(manifest: Manifest, settings: HotspotSettings):
    """(geometry, source label) of the study area, as the service defines it."""
    if manifest.layer != "incidents":
        raise InvalidInput(f"this dataset holds {manifest.layer}, not incidents")
    if manifest.study_area:
        geom = shapely_wkb.loads(bytes.fromhex(manifest.study_area["wkb_hex"]))
        return geom, manifest.study_area["source"]
    if manifest.bounds is None:
        raise NotEnoughData("there are no incidents and no admin areas to analyse")
    return extent_area(tuple(manifest.bounds), settings.area_buffer_m), "incident_extent"


def study_cells(area, res: int, max_cells: int, incident_cells: np.ndarray) -> np.ndarray:
    """Sorted study cells (a task): the area's cells plus every incident's cell."""
    check_size(area, res, max_cells)
    return with_incident_cells(polyfill(area, res), incident_cells, None)


def align(cells: np.ndarray, merged: counts.CellCounts) -> np.ndarray:
    """Counts per study cell (zeros included) from the reduced counts (a task)."""
    shape = (len(cells),) + merged.n.shape[1:]
    x = np.zeros(shape, dtype=np.int64)
    x[np.searchsorted(cells, merged.cells)] = merged.n
    return x


def block_result(study: gistar.Study, rows: np.ndarray, k: int, stats: gistar.Stats):
    """Gi* z and outlines of one block (a task)."""
    return rows, gistar.block_z(study, rows, k, stats), outlines(study.cells[rows])


@dataclass
class DatasetRun:
    """What every batch analysis opens first: its incidents dataset, on a Dask client.

    Reads the manifest, the study area (as the service defines it), the part files and the
    count tasks (about four per worker). Batch analyses cover the whole dataset, so a query
    with a bbox is refused.
    """

    client: object
    folder: str | Path
    query: HotspotQuery | EmergingQuery
    settings: HotspotSettings = field(default_factory=HotspotSettings)
    batch: BatchSettings = field(default_factory=BatchSettings)
    what: ClassVar[str] = "batch analyses"

    def __post_init__(self):
        if self.query.bbox is not None:
            raise InvalidInput(f"{self.what} run on the whole dataset; bbox is not supported")
        self.manifest = Manifest.read(self.folder)
        self.area, self.area_source = study_area(self.manifest, self.settings)
        self.paths = self.manifest.paths(self.folder)
        self.workers = max(len(self.client.scheduler_info()["workers"]), 1)
        self.tasks = self.manifest.tasks(self.folder, self.batch.task_rows, 4 * self.workers)


@dataclass
class BatchHotspots(DatasetRun):
    """One batch hotspot run on a Dask client.

    Parameters
    ----------
    client : distributed.Client
    folder : path-like
        An incidents dataset written by ``onemap batch export incidents``.
    query : HotspotQuery
        The same query object as the service's (res, k, alpha, filters; no bbox).

    Attributes
    ----------
    frame_ : DataFrame
        h3, count, gi_z, p_value, bin, class — one row per study cell, sorted by cell.
    outlines_ : ndarray
        WKB outline of each cell.
    parameters_ : dict
    """

    query: HotspotQuery
    what: ClassVar[str] = "batch hotspots"

    def count(self) -> list:
        """Step 1: one count task per group of files (futures)."""
        q = self.query
        return self.client.map(counts.count_files, self.tasks, res=q.res, f=q.filters, pure=False)

    def finish(self, parts: list) -> BatchHotspots:
        """Steps 2–5 from the count futures."""
        c, q = self.client, self.query
        merged = tree_reduce(c, parts, counts.merge)
        all_cells = c.submit(_all_cells, merged)
        cells_f = c.submit(study_cells, self.area, q.res, self.batch.max_cells, all_cells)
        x_f = c.submit(align, cells_f, merged)
        cells, x = c.gather([cells_f, x_f])
        total = int(x.sum())
        _require(total, self.settings.min_incidents)
        if len(cells) < 3:
            raise NotEnoughData(f"the service area holds {len(cells)} cells at res {q.res}; "
                                "use a finer res")
        if np.all(x == x[0]):
            raise NotEnoughData("every cell has the same count; there is nothing to contrast")
        stats = gistar.Stats.of(x)
        [study] = c.scatter([gistar.Study(cells, x)], broadcast=True)
        jobs = gistar.blocks(cells, self.batch.partition_res, self.batch.block_cells,
                             4 * self.workers)
        futures = [c.submit(block_result, study, rows, q.k, stats, pure=False)
                   for rows in jobs]
        z = np.zeros(len(cells))
        wkbs = np.empty(len(cells), dtype=object)
        for rows, zb, wb in c.gather(futures):
            z[rows], wkbs[rows] = zb, wb
        p = two_sided_p(z)
        bins = fdr_bins(z, p, q.alpha)
        from geo.hotspots.cells import to_str

        self.frame_ = pd.DataFrame({"h3": to_str(cells), "count": x.astype(np.int64),
                                    "gi_z": z, "p_value": p, "bin": bins.astype(np.int64),
                                    "class": class_labels(bins, q.alpha).astype(str)})
        self.outlines_ = wkbs
        self.parameters_ = {"res": q.res, "k": q.k, "alpha": q.alpha, **q.filters.echo(),
                            "cells": len(cells), "incidents": total,
                            "study_area": self.area_source, "files": len(self.paths),
                            "tasks": len(self.tasks), "blocks": len(jobs),
                            "fdr": "Benjamini-Hochberg over all cells"}
        return self

    def run(self) -> BatchHotspots:
        """All steps."""
        with task_errors("batch hotspots"):
            return self.finish(self.count())


def _all_cells(merged: counts.CellCounts) -> np.ndarray:
    return merged.all_cells


def _require(total: int, need: int) -> None:
    """The service's minimum (``HotspotService.require``)."""
    if total == 0:
        raise NotEnoughData("no incidents match this window and filter")
    if total < need:
        raise NotEnoughData(f"only {total} incidents match this window and filter; hotspot "
                            f"statistics need at least {need} (ONEMAP_HOTSPOT_MIN_INCIDENTS)")

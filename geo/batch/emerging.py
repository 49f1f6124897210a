"""Batch emerging hot spots on Dask, equal to the service's ``/api/v1/hotspots/emerging``.

The service's definitions (``geo.hotspots.emerging``, ``geo.hotspots.steps``):
weekly or monthly steps ending at the local midnight after the last matching
incident, a cells × steps cube with every study cell, Gi* per bin, bins hot or
cold under Benjamini–Hochberg over all cell-steps, Mann–Kendall on each cell's
z series, the ArcGIS categories. On the workers:

1. per file: the latest matching time (reduced with ``max``), then (cell, step)
   counts of exact H3 cells (reduced by summing);
2. per block of cells: Gi* z of every bin with the block's k-ring halo; the
   block keeps its z and sends back only its p-values at most ``alpha``;
3. on the client: the BH threshold from those p-values alone — every p-value
   the procedure can reject is at most ``alpha``, and their ranks among all
   ``n·T`` are their ranks among themselves — so the cube never travels;
4. per block: hot/cold bins, Mann–Kendall and the category of each cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.batch import counts, gistar
from geo.batch.cluster import task_errors, tree_reduce
from geo.batch.hotspots import DatasetRun, _require, align, study_cells
from geo.batch.output import outlines
from geo.errors import NotEnoughData
from geo.hotspots.cells import to_str
from geo.hotspots.emerging import classify
from geo.hotspots.gistar import two_sided_p
from geo.hotspots.params import EmergingQuery, Filters
from geo.hotspots.steps import default_end, step_edges
from geo.hotspots.trend import MannKendall


def bh_threshold(small_p: np.ndarray, m: int, q: float) -> float:
    """Largest p-value BH rejects at level ``q`` among ``m`` tests (−1: none).

    ``small_p`` must hold every p-value ≤ ``q`` (others can never be rejected).

    Examples
    --------
    >>> bh_threshold(np.array([0.001, 0.02, 0.04]), 4, 0.05)
    0.02
    """
    s = np.sort(np.asarray(small_p, dtype=float))
    passing = np.nonzero(s <= q * np.arange(1, len(s) + 1) / m)[0]
    return float(s[passing[-1]]) if passing.size else -1.0


def block_z(study: gistar.Study, rows: np.ndarray, k: int, stats: gistar.Stats):
    """Gi* z (b, T) of one block's bins (a task; the result stays on its worker)."""
    return rows, gistar.block_z(study, rows, k, stats)


def small_p(block, q: float) -> np.ndarray:
    """The block's p-values that BH could reject at level ``q``."""
    p = two_sided_p(block[1]).ravel()
    return p[p <= q]


def classify_block(block, x: gistar.Study, threshold: float, trend_alpha: float):
    """Hot/cold bins, trend and category of one block's cells (a task)."""
    rows, z = block
    significant = two_sided_p(z) <= threshold
    hot, cold = significant & (z > 0), significant & (z < 0)
    mk = MannKendall().fit(z)
    category = classify(hot, cold, mk.z_, mk.p_ < trend_alpha)
    return (rows, category, mk.z_, mk.p_, hot.sum(axis=1), cold.sum(axis=1), z[:, -1],
            outlines(x.cells[rows]))


@dataclass
class BatchEmerging(DatasetRun):
    """One batch emerging-hot-spot run on a Dask client.

    Attributes
    ----------
    frame_ : DataFrame
        h3, category, trend_z, trend_p, count, hot_steps, cold_steps, last_z.
    outlines_ : ndarray
    parameters_ : dict
    """

    query: EmergingQuery

    def edges(self) -> list:
        """Step edges, the default end found on the workers when ``to`` is not given."""
        c, f, tz = self.client, self.query.filters, self.settings.timezone
        end = f.t1
        if end is None:
            since = Filters(f.t0, None, f.categories, f.sources)
            last = tree_reduce(c, c.map(counts.last_times, self.tasks, f=since, pure=False),
                               counts.latest).result()
            if last is None:
                raise NotEnoughData("no incidents match this window and filter")
            end = default_end(pd.Timestamp(last, unit="us", tz="UTC").to_pydatetime(), tz)
        return step_edges(f.t0, end, self.query.step, tz)

    def run(self) -> BatchEmerging:
        """All steps."""
        with task_errors("batch emerging hot spots"):
            return self._run()

    def _run(self) -> BatchEmerging:
        c, q = self.client, self.query
        edges = self.edges()
        f = q.filters
        window = Filters(edges[0], edges[-1], f.categories, f.sources)
        edges_us = np.array([counts.unix_us(e) for e in edges], dtype=np.int64)
        parts = c.map(counts.cube_files, self.tasks, res=q.res, f=window, edges_us=edges_us,
                      pure=False)
        merged = tree_reduce(c, parts, counts.merge)
        cells_f = c.submit(study_cells, self.area, q.res, self.batch.max_cells,
                           c.submit(_all_cells, merged))
        cells, x = c.gather([cells_f, c.submit(align, cells_f, merged)])
        total = int(x.sum())
        _require(total, self.settings.min_incidents)
        if len(cells) < 3:
            raise NotEnoughData(f"the service area holds {len(cells)} cells at res {q.res}")
        stats = gistar.Stats.of(x, q.time_window)
        [study] = c.scatter([gistar.Study(cells, x)], broadcast=True)
        jobs = gistar.blocks(cells, self.batch.partition_res, self.batch.block_cells,
                             4 * self.workers)
        zs = [c.submit(block_z, study, rows, q.k, stats, pure=False) for rows in jobs]
        candidates = c.gather([c.submit(small_p, z, q.alpha, pure=False) for z in zs])
        threshold = bh_threshold(np.concatenate(candidates), x.size, q.alpha)
        results = c.gather([c.submit(classify_block, z, study, threshold, q.trend_alpha,
                                     pure=False) for z in zs])
        n = len(cells)
        cols = {name: np.empty(n, dtype=dtype) for name, dtype in
                (("category", object), ("trend_z", float), ("trend_p", float),
                 ("hot_steps", np.int64), ("cold_steps", np.int64), ("last_z", float),
                 ("geometry", object))}
        for rows, *values in results:
            for name, v in zip(cols, values, strict=True):
                cols[name][rows] = v
        self.outlines_ = cols.pop("geometry")
        self.frame_ = pd.DataFrame({"h3": to_str(cells), "category": cols["category"].astype(str),
                                    "trend_z": cols["trend_z"], "trend_p": cols["trend_p"],
                                    "count": x.sum(axis=1).astype(np.int64),
                                    "hot_steps": cols["hot_steps"],
                                    "cold_steps": cols["cold_steps"], "last_z": cols["last_z"]})
        self.parameters_ = {"res": q.res, "k": q.k, "step": q.step, "steps": len(edges) - 1,
                            **window.echo(), "time_window": q.time_window, "alpha": q.alpha,
                            "trend_alpha": q.trend_alpha, "cells": n, "incidents": total,
                            "study_area": self.area_source, "files": len(self.paths),
                            "blocks": len(jobs), "bh_threshold": threshold}
        return self


def _all_cells(merged: counts.CellCounts) -> np.ndarray:
    return merged.all_cells

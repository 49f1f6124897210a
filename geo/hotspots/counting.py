"""Incidents per study cell, from memory or from the database: one choice, one path.

``counter_for`` picks the source once per answer — the in-memory snapshot when the
data state holds one, else SQL ``GROUP BY`` (``geo.hotspots.aggregate``) — and
both counters answer the same questions with the same shapes, so the analyses
never ask where the incidents are.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Protocol

import numpy as np
from sqlalchemy import Engine

from geo.hotspots import aggregate
from geo.hotspots.cache import Lru
from geo.hotspots.cells import in_bbox
from geo.hotspots.freshness import DataState
from geo.hotspots.params import Filters
from geo.hotspots.snapshot import IncidentColumns, to_us
from geo.hotspots.study import Study


class Counter(Protocol):
    """What an analysis asks of the incidents."""

    def incident_cells(self, res: int) -> np.ndarray:
        """Cells at ``res`` holding any incident (sorted)."""

    def counts(self, study: Study, f: Filters) -> np.ndarray:
        """Incidents per study cell (zeros included) for the filters."""

    def cube(self, study: Study, f: Filters, edges: list) -> np.ndarray:
        """Incidents per study cell and time step ``[edges[i], edges[i+1])``, (n, T)."""

    def cell_counts(self, f: Filters, res: int) -> tuple[np.ndarray, np.ndarray]:
        """Cells at ``res`` holding matching incidents (sorted), and their counts."""

    def time_range(self, f: Filters) -> tuple[datetime | None, datetime | None]:
        """First and last matching incident."""


class DatabaseCounter:
    """Counts by SQL ``GROUP BY`` (tables too large for memory)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def incident_cells(self, res: int) -> np.ndarray:  # noqa: D102
        with self.engine.connect() as conn:
            return aggregate.incident_cells(conn, res)

    def counts(self, study: Study, f: Filters) -> np.ndarray:  # noqa: D102
        cells, n = self.cell_counts(f, study.res)
        rows = study.index_of(cells)
        return np.bincount(rows[rows >= 0], weights=n[rows >= 0],
                           minlength=len(study)).astype(np.int64)

    def cube(self, study: Study, f: Filters, edges: list) -> np.ndarray:  # noqa: D102
        steps = len(edges) - 1
        with self.engine.connect() as conn:
            cells, step, n = aggregate.counts_by_cell_step(conn, study.res, edges, f)
        rows = study.index_of(cells)
        ok = rows >= 0
        flat = rows[ok] * steps + step[ok]
        return np.bincount(flat, weights=n[ok], minlength=len(study) * steps
                           ).reshape(len(study), steps).astype(np.int64)

    def cell_counts(self, f: Filters, res: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: D102
        with self.engine.connect() as conn:
            return aggregate.counts_by_cell(conn, res, f)

    def time_range(self, f: Filters):  # noqa: D102
        with self.engine.connect() as conn:
            return aggregate.time_range(conn, f)


class CellIndex:
    """Study row of every incident of a snapshot, cached per snapshot version and study.

    A bbox study maps its parent's rows; after an incremental refresh only the
    new rows are placed.
    """

    def __init__(self):
        self.cache = Lru(4)
        self._last: dict = {}  # newest index per (lineage, res, study)
        self._lock = threading.Lock()

    def rows(self, cols: IncidentColumns, study: Study) -> np.ndarray:
        """Study row of every incident (``len(study)``: outside it)."""
        def make():
            if study.parent is not None:
                to_sub = np.full(len(study.parent) + 1, len(study), dtype=np.int32)
                to_sub[study.parent_rows] = np.arange(len(study), dtype=np.int32)
                return to_sub[self.rows(cols, study.parent)]
            key = (id(cols.lineage), study.res, study.key)
            with self._lock:
                prev = self._last.get(key)
            if prev is not None and prev[0] is cols.lineage and len(prev[1]) <= len(cols):
                head = prev[1]
                tail = IncidentColumns(cols.version, cols.cells[:, len(head):], cols.t_us[:0],
                                       cols.category[:0], cols.source[:0])
                idx = np.concatenate([head, tail.cell_index(study.res, study.cells)])
            else:
                idx = cols.cell_index(study.res, study.cells)
            with self._lock:
                if len(self._last) > 16:
                    self._last.clear()
                self._last[key] = (cols.lineage, idx)
            return idx

        return self.cache.get((cols.version, study.res, study.key), make)


class MemoryCounter:
    """Counts by numpy masks and ``bincount`` on the in-memory snapshot."""

    def __init__(self, cols: IncidentColumns, index: CellIndex):
        self.cols = cols
        self.index = index

    def incident_cells(self, res: int) -> np.ndarray:  # noqa: D102
        return self.cols.distinct_cells(res)

    def counts(self, study: Study, f: Filters) -> np.ndarray:  # noqa: D102
        idx = self.index.rows(self.cols, study)  # len(study) marks incidents outside it
        m = self.cols.mask(f)
        sel = idx if m is None else idx[m]
        return np.bincount(sel, minlength=len(study) + 1)[: len(study)].astype(np.int64)

    def cube(self, study: Study, f: Filters, edges: list) -> np.ndarray:  # noqa: D102
        steps = len(edges) - 1
        cols = self.cols
        idx = self.index.rows(cols, study)
        step = np.searchsorted(np.array([to_us(e) for e in edges]), cols.t_us, side="right") - 1
        ok = (idx < len(study)) & (step >= 0) & (step < steps)
        m = cols.mask(f)
        if m is not None:
            ok &= m
        flat = idx[ok].astype(np.int64) * steps + step[ok]
        return np.bincount(flat, minlength=len(study) * steps).reshape(len(study), steps)

    def cell_counts(self, f: Filters, res: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: D102
        m = self.cols.mask(f)
        h = self.cols.at(res) if m is None else self.cols.at(res)[m]
        return np.unique(h, return_counts=True)

    def time_range(self, f: Filters):  # noqa: D102
        return self.cols.time_range(f)


def counter_for(st: DataState, engine: Engine, index: CellIndex) -> Counter:
    """The counter of a data state: its snapshot when it has one, else the database."""
    if st.cols is not None:
        return MemoryCounter(st.cols, index)
    return DatabaseCounter(engine)


def in_box(cells: np.ndarray, n: np.ndarray, bbox: tuple | None
           ) -> tuple[np.ndarray, np.ndarray]:
    """The cells (and their counts) whose centre lies in ``bbox`` (all without one)."""
    if bbox is None or not len(cells):
        return cells, n
    keep = in_bbox(cells, bbox)
    return cells[keep], n[keep]

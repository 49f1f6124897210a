"""Per-partition work on the workers: exact H3 cells, filters, counts.

Each task reads one file, places every incident in its exact H3 cell, filters, counts.

Cells are ``h3.latlng_to_cell(lat, lon, res)`` of each incident's own
coordinates (DESIGN §6), never the parent of a finer stored cell. The filters
are the service's (``geo.hotspots.params.Filters``): ``[from, to)`` on
``occurred_at``, categories, sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import h3.api.basic_int as h3i
import numpy as np
import pyarrow.parquet as pq
import shapely

from geo.hotspots.params import Filters

UNIX = datetime(1970, 1, 1, tzinfo=UTC)
_COLUMNS = ["geometry", "occurred_at", "category", "source"]


def unix_us(t: datetime) -> int:
    """Aware datetime → µs since 1970-01-01 UTC (Arrow's timestamp unit)."""
    return (t - UNIX) // timedelta(microseconds=1)


@dataclass
class Points:
    """The analysed columns of one partition file."""

    lon: np.ndarray
    lat: np.ndarray
    t_us: np.ndarray
    category: np.ndarray
    source: np.ndarray

    @classmethod
    def read(cls, path: str) -> Points:
        """Read a file of the incidents dataset."""
        table = pq.read_table(path, columns=_COLUMNS)
        xy = shapely.get_coordinates(shapely.from_wkb(table["geometry"].to_numpy(
            zero_copy_only=False)))
        t = table["occurred_at"].cast("int64").to_numpy(zero_copy_only=False)
        return cls(xy[:, 0], xy[:, 1], t,
                   table["category"].to_numpy(zero_copy_only=False).astype(str),
                   table["source"].to_numpy(zero_copy_only=False).astype(str))

    def cells(self, res: int) -> np.ndarray:
        """Exact H3 cell of every point at ``res``."""
        return np.fromiter((h3i.latlng_to_cell(y, x, res)
                            for x, y in zip(self.lon.tolist(), self.lat.tolist(), strict=True)),
                           dtype=np.int64, count=len(self.lon))

    def mask(self, f: Filters) -> np.ndarray:
        """Rows passing the filters."""
        m = np.ones(len(self.t_us), dtype=bool)
        if f.t0 is not None:
            m &= self.t_us >= unix_us(f.t0)
        if f.t1 is not None:
            m &= self.t_us < unix_us(f.t1)
        if f.categories:
            m &= np.isin(self.category, list(f.categories))
        if f.sources:
            m &= np.isin(self.source, list(f.sources))
        return m


@dataclass
class CellCounts:
    """Distinct cells of every incident, and counts per cell of the filtered ones.

    When ``steps`` > 0, ``n`` is (cells, steps) counts of a space-time cube.
    """

    all_cells: np.ndarray
    cells: np.ndarray
    n: np.ndarray
    incidents: int = 0


def count_files(paths: list[str], res: int, f: Filters) -> CellCounts:
    """Cell counts of a group of files (a task)."""
    return merge(*(count_file(p, res, f) for p in paths))


def cube_files(paths: list[str], res: int, f: Filters, edges_us: np.ndarray) -> CellCounts:
    """(cell, step) counts of a group of files (a task)."""
    return merge(*(cube_file(p, res, f, edges_us) for p in paths))


def last_times(paths: list[str], f: Filters) -> int | None:
    """Latest matching time over a group of files (a task)."""
    return latest(*(last_time(p, f) for p in paths))


def count_file(path: str, res: int, f: Filters) -> CellCounts:
    """Cell counts of one file."""
    pts = Points.read(path)
    cells = pts.cells(res)
    sel, n = np.unique(cells[pts.mask(f)], return_counts=True)
    return CellCounts(np.unique(cells), sel, n.astype(np.int64), len(cells))


def cube_file(path: str, res: int, f: Filters, edges_us: np.ndarray) -> CellCounts:
    """(cell, step) counts of one file for steps ``[edges[i], edges[i+1])`` (a task)."""
    pts = Points.read(path)
    cells = pts.cells(res)
    steps = len(edges_us) - 1
    step = np.searchsorted(edges_us, pts.t_us, side="right") - 1
    ok = pts.mask(f) & (step >= 0) & (step < steps)
    sel, inv = np.unique(cells[ok], return_inverse=True)
    n = np.bincount(inv * steps + step[ok], minlength=len(sel) * steps).reshape(len(sel), steps)
    return CellCounts(np.unique(cells), sel, n.astype(np.int64), len(cells))


def last_time(path: str, f: Filters) -> int | None:
    """Latest ``occurred_at`` (µs since 1970) of the filtered rows of one file (a task)."""
    pts = Points.read(path)
    t = pts.t_us[pts.mask(f)]
    return int(t.max()) if len(t) else None


def latest(*values: int | None) -> int | None:
    """Largest of the values that are not None."""
    vals = [v for v in values if v is not None]
    return max(vals) if vals else None


def merge(*parts: CellCounts) -> CellCounts:
    """Sum counts over files (a reduce task): union of cells, counts added."""
    all_cells = np.unique(np.concatenate([p.all_cells for p in parts]))
    cells = np.unique(np.concatenate([p.cells for p in parts]))
    shape = (len(cells),) + parts[0].n.shape[1:]
    n = np.zeros(shape, dtype=np.int64)
    for p in parts:
        np.add.at(n, np.searchsorted(cells, p.cells), p.n)
    return CellCounts(all_cells, cells, n, sum(p.incidents for p in parts))

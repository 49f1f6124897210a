"""Per-partition work on the workers: exact H3 cells, filters, counts.

Each task reads one file, places every incident in its exact H3 cell, filters, counts.

Cells are ``h3.latlng_to_cell(lat, lon, res)`` of each incident's own
coordinates (ARCHITECTURE.md §6), never the parent of a finer stored cell. The filters
are the service's (``geo.hotspots.params.Filters``): ``[from, to)`` on
``occurred_at``, categories, sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import repeat

import h3.api.basic_int as h3i
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from geo.hotspots.params import Filters

UNIX = datetime(1970, 1, 1, tzinfo=UTC)


def unix_us(t: datetime) -> int:
    """Aware datetime → µs since 1970-01-01 UTC (Arrow's timestamp unit)."""
    return (t - UNIX) // timedelta(microseconds=1)


def point_xy(wkb: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """lon, lat of WKB points, read straight from Arrow's buffers.

    2-D little-endian points (21 bytes each: order, type 1, x, y) are viewed as
    numbers without a Python object per row; anything else goes through shapely.
    """
    xs, ys = [], []
    for chunk in wkb.chunks:
        n = len(chunk)
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32, count=n + 1,
                                offset=chunk.offset * 4)
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8) if n else np.zeros(0, np.uint8)
        if n and chunk.null_count == 0 and np.all(np.diff(offsets) == 21):
            rows = data[offsets[0]:offsets[-1]].reshape(n, 21)
            if np.all(rows[:, 0] == 1) and np.all(rows[:, 1:5].view("<u4").ravel() == 1):
                xs.append(rows[:, 5:13].copy().view("<f8").ravel())
                ys.append(rows[:, 13:21].copy().view("<f8").ravel())
                continue
        xy = shapely.get_coordinates(shapely.from_wkb(chunk.to_numpy(zero_copy_only=False)))
        xs.append(xy[:, 0])
        ys.append(xy[:, 1])
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


@dataclass
class Points:
    """The analysed columns of one partition file."""

    lon: np.ndarray
    lat: np.ndarray
    t_us: np.ndarray | None
    category: pa.ChunkedArray | None
    source: pa.ChunkedArray | None

    @classmethod
    def read(cls, path: str | list[str], f: Filters | None = None, times: bool = False
             ) -> Points:
        """Read one file, or a group of files as one table, of the incidents dataset.

        Only the columns the work needs are read and decoded: the geometry, and
        ``occurred_at``, ``category`` or ``source`` when ``times`` is asked for or
        the filters ``f`` use them (``None`` in the result otherwise).
        """
        f = f or Filters()
        columns = ["geometry"]
        if times or f.t0 is not None or f.t1 is not None:
            columns.append("occurred_at")
        if f.categories:
            columns.append("category")
        if f.sources:
            columns.append("source")
        # One thread: parallelism comes from the Dask tasks (no oversubscribed cores).
        if isinstance(path, str):
            table = pq.read_table(path, columns=columns, use_threads=False)
        else:
            import pyarrow.dataset as ds

            table = ds.dataset(path, format="parquet").to_table(columns=columns,
                                                                use_threads=False)
        lon, lat = point_xy(table["geometry"])
        t = (table["occurred_at"].cast("int64").to_numpy(zero_copy_only=False)
             if "occurred_at" in columns else None)
        return cls(lon, lat, t, *(table[c] if c in columns else None
                                  for c in ("category", "source")))

    def cells(self, res: int) -> np.ndarray:
        """Exact H3 cell of every point at ``res``."""
        n = len(self.lon)
        return np.fromiter(map(h3i.latlng_to_cell, self.lat.tolist(), self.lon.tolist(),
                               repeat(res, n)), dtype=np.int64, count=n)

    def mask(self, f: Filters) -> np.ndarray | None:
        """Rows passing the filters (None when there is no filter: every row)."""
        if f.t0 is None and f.t1 is None and not f.categories and not f.sources:
            return None
        m = np.ones(len(self.lon), dtype=bool)
        if f.t0 is not None:
            m &= self.t_us >= unix_us(f.t0)
        if f.t1 is not None:
            m &= self.t_us < unix_us(f.t1)
        for column, chosen in ((self.category, f.categories), (self.source, f.sources)):
            if chosen:
                hit = pc.is_in(column, value_set=pa.array(list(chosen), type=pa.string()))
                m &= pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
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
    """Cell counts of a group of files, read as one table (a task)."""
    return count_file(paths, res, f)


def cube_files(paths: list[str], res: int, f: Filters, edges_us: np.ndarray) -> CellCounts:
    """(cell, step) counts of a group of files, read as one table (a task)."""
    return cube_file(paths, res, f, edges_us)


def last_times(paths: list[str], f: Filters) -> int | None:
    """Latest matching time over a group of files (a task)."""
    return last_time(paths, f)


def count_file(path: str | list[str], res: int, f: Filters) -> CellCounts:
    """Cell counts of one file (or group of files)."""
    pts = Points.read(path, f)
    cells = pts.cells(res)
    m = pts.mask(f)
    all_cells, n = np.unique(cells, return_counts=True)
    if m is not None:
        sel, n = np.unique(cells[m], return_counts=True)
    else:
        sel = all_cells
    return CellCounts(all_cells, sel, n.astype(np.int64), len(cells))


def cube_file(path: str | list[str], res: int, f: Filters, edges_us: np.ndarray) -> CellCounts:
    """(cell, step) counts of one file for steps ``[edges[i], edges[i+1])`` (a task)."""
    pts = Points.read(path, f, times=True)
    cells = pts.cells(res)
    steps = len(edges_us) - 1
    step = np.searchsorted(edges_us, pts.t_us, side="right") - 1
    ok = (step >= 0) & (step < steps)
    m = pts.mask(f)
    if m is not None:
        ok &= m
    sel, inv = np.unique(cells[ok], return_inverse=True)
    n = np.bincount(inv * steps + step[ok], minlength=len(sel) * steps).reshape(len(sel), steps)
    return CellCounts(np.unique(cells), sel, n.astype(np.int64), len(cells))


def last_time(path: str | list[str], f: Filters) -> int | None:
    """Latest ``occurred_at`` (µs since 1970) of the filtered rows of one file (a task)."""
    pts = Points.read(path, f, times=True)
    m = pts.mask(f)
    t = pts.t_us if m is None else pts.t_us[m]
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

"""H3 cells with their k=1 ring weights (self included), for the demo generator.

The generator uses them to calibrate and check its planted clusters with the
service's own Gi* (:func:`geo.hotspots.gistar.gi_star_z`, equal to esda's
``G_Local(y, w, transform="B", star=True).Zs``) and a plain Mann–Kendall z.
"""

from __future__ import annotations

import h3
import h3.api.basic_int as h3i
import numpy as np
from scipy import sparse

from geo.hotspots.gistar import gi_star_z

RES = 9


def cells_of(lon: np.ndarray, lat: np.ndarray, res: int = RES) -> np.ndarray:
    """H3 cells (int64) of points."""
    cell = h3i.latlng_to_cell
    return np.array([cell(b, a, res) for a, b in zip(np.asarray(lon).tolist(),
                                                       np.asarray(lat).tolist(), strict=True)],
                    dtype=np.int64).reshape(-1)


def polygon_cells(geom_lonlat, res: int = RES) -> np.ndarray:
    """H3 cells whose centre lies in a lon/lat (Multi)Polygon."""
    shape = h3.geo_to_h3shape(geom_lonlat.__geo_interface__)
    return np.array(sorted(h3.str_to_int(c) for c in h3.h3shape_to_cells(shape, res)),
                    dtype=np.int64)


class CellGrid:
    """A fixed set of H3 cells (the service area) with its k=1 ring weights.

    Parameters
    ----------
    cells : array of int64
        H3 cells; sorted and deduplicated here.
    """

    def __init__(self, cells: np.ndarray):
        self.cells = np.unique(np.asarray(cells, dtype=np.int64))
        self.n = len(self.cells)
        rows, cols = [], []
        for i, c in enumerate(self.cells.tolist()):
            ring = np.array([h3.str_to_int(x) for x in h3.grid_disk(h3.int_to_str(c), 1)],
                            dtype=np.int64)
            j = self.index(ring)
            j = j[j >= 0]
            rows += [i] * len(j)
            cols += j.tolist()
        self.w = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(self.n, self.n))

    def index(self, cells: np.ndarray) -> np.ndarray:
        """Position of each cell in the grid, -1 when not part of it."""
        cells = np.asarray(cells, dtype=np.int64)
        pos = np.searchsorted(self.cells, cells)
        pos = np.clip(pos, 0, max(self.n - 1, 0))
        return np.where(self.cells[pos] == cells, pos, -1)

    def counts(self, idx: np.ndarray, group: np.ndarray | None = None, groups: int = 1):
        """Counts per (group, cell) of points at grid positions ``idx`` (−1 ignored)."""
        ok = idx >= 0
        g = np.zeros(len(idx), dtype=int) if group is None else np.asarray(group)
        flat = g[ok] * self.n + idx[ok]
        return np.bincount(flat, minlength=groups * self.n).reshape(groups, self.n)

    def gi_star(self, x: np.ndarray) -> np.ndarray:
        """Gi* z-scores of counts ``x`` with shape (n,) or (t, n): one row per series."""
        x = np.atleast_2d(np.asarray(x, float))
        return gi_star_z(x.T, self.w).T

def mann_kendall(series: np.ndarray) -> float:
    """Mann–Kendall trend z of a series (no tie correction; floats rarely tie)."""
    y = np.asarray(series, float)
    n = len(y)
    s = np.sign(y[None, :] - y[:, None])[np.triu_indices(n, 1)].sum()
    var = n * (n - 1) * (2 * n + 5) / 18.0
    return float((s - np.sign(s)) / np.sqrt(var)) if s != 0 else 0.0

"""Study-area H3 cells and their k-ring weight matrices.

Rule for the study area at resolution ``res``: every cell whose centre lies in
the area (H3's polyfill rule), plus every cell that holds at least one incident
(so no incident is ever dropped), optionally restricted to cells whose centre
lies in a bbox. Cells are kept sorted as H3 integers; a cell's row in every
array is its position in that sorted array.

Weights: ``w_ij = 1`` when ``j`` is in ``grid_disk(i, k)`` (``i`` included, the
Gi* "star" convention) and both are study cells; stored as a scipy CSR matrix.
"""

from __future__ import annotations

import h3
import h3.api.basic_int as h3i
import numpy as np
from scipy import sparse
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidInput
from geo.h3cells import parents  # noqa: F401  (re-exported: one owner of the arithmetic)

RES_RANGE = (6, 12)


def check_res(res: int) -> int:
    """``res`` if it is a supported H3 resolution, else InvalidInput."""
    if not isinstance(res, int | np.integer) or not RES_RANGE[0] <= res <= RES_RANGE[1]:
        raise InvalidInput(f"res must be an H3 resolution from 6 to 12, got {res}")
    return int(res)


def check_k(k: int) -> int:
    """``k`` if it is a supported ring size (1..3), else InvalidInput."""
    if not isinstance(k, int | np.integer) or not 1 <= k <= 3:
        raise InvalidInput(f"k must be 1, 2 or 3 rings, got {k}")
    return int(k)


def is_cell(cells: np.ndarray) -> np.ndarray:
    """True where an integer is an H3 cell index (mode 1, no reserved bit), vectorised.

    Rows that were written without a real cell (e.g. ``h3 = 0``) are not study cells.
    """
    cells = np.asarray(cells, dtype=np.int64)
    mode = (cells >> np.int64(59)) & np.int64(15)
    return (cells > 0) & (mode == 1)


def polyfill(area: BaseGeometry, res: int) -> np.ndarray:
    """Sorted H3 integers of the cells whose centre lies in ``area`` (lon/lat)."""
    if area.is_empty:
        return np.zeros(0, dtype=np.int64)
    found = h3.geo_to_cells(area, res)
    return np.sort(np.fromiter((h3.str_to_int(c) for c in found), dtype=np.int64,
                               count=len(found)))


def centres(cells: np.ndarray) -> np.ndarray:
    """(n, 2) array of cell centres as lon, lat."""
    out = np.empty((len(cells), 2))
    for i, c in enumerate(cells.tolist()):
        lat, lon = h3i.cell_to_latlng(c)
        out[i, 0], out[i, 1] = lon, lat
    return out


def in_bbox(cells: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Mask of the cells whose centre lies in ``bbox`` (lon_min, lat_min, lon_max, lat_max)."""
    xy = centres(cells)
    x0, y0, x1, y1 = bbox
    return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)


def kring_weights(cells: np.ndarray, k: int) -> sparse.csr_matrix:
    """Binary k-ring weights (diagonal 1) among sorted ``cells``.

    One ``grid_disk`` call per cell builds the matrix once; callers cache it.
    """
    check_k(k)
    n = len(cells)
    if n == 0:
        return sparse.csr_matrix((0, 0))
    disks = [h3i.grid_disk(c, k) for c in cells.tolist()]
    sizes = np.fromiter((len(d) for d in disks), dtype=np.int64, count=n)
    flat = np.fromiter((c for d in disks for c in d), dtype=np.int64, count=int(sizes.sum()))
    rows = np.repeat(np.arange(n), sizes)
    pos = np.searchsorted(cells, flat)
    pos[pos == n] = 0
    keep = cells[pos] == flat
    data = np.ones(int(keep.sum()), dtype=float)
    W = sparse.csr_matrix((data, (rows[keep], pos[keep])), shape=(n, n))
    W.sum_duplicates()
    return W


def subset(W: sparse.csr_matrix, mask: np.ndarray) -> sparse.csr_matrix:
    """Weights among the cells selected by ``mask`` (neighbours outside drop out)."""
    idx = np.nonzero(mask)[0]
    return W[idx][:, idx].tocsr()


def boundaries(cells: np.ndarray) -> list[list[list[float]]]:
    """GeoJSON polygon rings (lon, lat to 1e-6°, about 0.1 m; closed) of the cells."""
    rings = []
    for c in cells.tolist():
        ring = [[round(lon, 6), round(lat, 6)] for lat, lon in h3i.cell_to_boundary(c)]
        ring.append(ring[0])
        rings.append(ring)
    return rings


def to_str(cells: np.ndarray) -> list[str]:
    """H3 integers → hex strings."""
    return [h3.int_to_str(c) for c in cells.tolist()]

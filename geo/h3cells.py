"""The exact H3 cell of a point at every resolution the service offers.

H3 is not exactly hierarchical: the parent of a point's res-12 cell is not
always the res-9 cell that holds the point (a few percent of points fall in a
neighbour). So each incident stores ``h3.latlng_to_cell(lat, lon, res)`` for
every offered resolution, one ``bigint`` column per resolution (``h3_6`` …
``h3_12``), computed once when it is written; counts per cell read the column
of the resolution asked for and never derive one resolution from another.

Examples
--------
>>> cells = exact_cells([118.05], [36.8])
>>> list(cells) == list(COLUMNS)
True
>>> import h3
>>> h3.int_to_str(int(cells["h3_9"][0])) == h3.latlng_to_cell(36.8, 118.05, 9)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import h3.api.basic_int as h3i
import numpy as np

RESOLUTIONS = tuple(range(6, 13))
COLUMNS = tuple(f"h3_{r}" for r in RESOLUTIONS)


def column(res: int) -> str:
    """Name of the column holding the exact cell at ``res`` (ValueError when not offered).

    Examples
    --------
    >>> column(9)
    'h3_9'
    """
    if res not in RESOLUTIONS:
        raise ValueError(f"H3 resolution {res!r} is not one of {RESOLUTIONS}")
    return f"h3_{int(res)}"


def cells_at(lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray,
             res: int) -> np.ndarray:
    """``h3.latlng_to_cell(lat, lon, res)`` of each point, as int64."""
    x = np.asarray(lon, dtype=np.float64).tolist()
    y = np.asarray(lat, dtype=np.float64).tolist()
    f = h3i.latlng_to_cell
    out = np.fromiter((f(b, a, res) for a, b in zip(x, y, strict=True)), dtype=np.uint64,
                      count=len(x))
    return out.astype(np.int64)


def parents(cells: np.ndarray, res: int) -> np.ndarray:
    """Parent cells at ``res`` of finer H3 integer cells, vectorised (bit arithmetic).

    Same arithmetic as the SQL function ``onemap_h3_parent``. A parent is where
    the *cell* sits in the hierarchy, not always the cell a point inside it lies
    in at ``res``: see :func:`exact_cells`.
    """
    cells = np.asarray(cells, dtype=np.int64)
    res_mask = np.int64(15) << np.int64(52)
    low = (np.int64(1) << np.int64((15 - res) * 3)) - np.int64(1)
    return (cells & ~res_mask) | (np.int64(res) << np.int64(52)) | low


def exact_cells(lon: Sequence[float] | np.ndarray,
                lat: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
    """Column name → int64 cells of the points at every offered resolution.

    One ``latlng_to_cell`` per point and resolution (about 1 µs each). Deriving
    coarser cells from the res-12 one and calling ``latlng_to_cell`` only for the
    points near a parent's edge (a vectorised point-in-polygon test) was tried:
    exact, but the polygon work cost more than the calls it saved.
    """
    return {column(r): cells_at(lon, lat, r) for r in RESOLUTIONS}


def cells_of(lon: float, lat: float) -> dict[str, int]:
    """Column name → cell of one point (for writers of single rows).

    Examples
    --------
    >>> cells_of(118.05, 36.8)["h3_12"] == h3i.latlng_to_cell(36.8, 118.05, 12)
    True
    """
    return {column(r): int(np.int64(np.uint64(h3i.latlng_to_cell(lat, lon, r))))
            for r in RESOLUTIONS}

#: The columns as SQL text (``h3_6, …, h3_12``) and as bound parameters (``:h3_6, …``).
SQL_COLUMNS = ", ".join(COLUMNS)
SQL_PARAMS = ", ".join(f":{c}" for c in COLUMNS)

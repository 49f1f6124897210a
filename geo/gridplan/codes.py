"""Grid codes: community code + 3-digit sequence, west→east then north→south.

Grids are put in columns about one typical grid wide, columns from west to
east and, inside a column, grids from north to south. A grid whose set of
buildings did not change keeps its old code; the others take the free sequence
numbers in that order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def spatial_order(centroids: np.ndarray, column_width: float | None = None) -> np.ndarray:
    """Indices of ``centroids`` (metric x, y) west→east by column, north→south inside.

    Examples
    --------
    >>> spatial_order(np.array([[0, 0], [0, 100], [500, 50]]), column_width=200).tolist()
    [1, 0, 2]
    """
    c = np.asarray(centroids, dtype=float).reshape(-1, 2)
    if len(c) == 0:
        return np.empty(0, dtype=np.int64)
    if not column_width:
        span = np.ptp(c, axis=0)
        column_width = max(math.sqrt(max(span[0] * span[1], 1.0) / len(c)), 1.0)
    col = np.floor((c[:, 0] - c[:, 0].min()) / column_width)
    return np.lexsort((c[:, 0], -c[:, 1], col))


def make_code(prefix: str, seq: int) -> str:
    """``prefix`` + sequence, at least 3 digits."""
    return f"{prefix}{seq:03d}"


def assign_codes(
    prefix: str,
    centroids: np.ndarray,
    members: Sequence[frozenset],
    previous: Mapping[str, frozenset],
    taken: set[str] | None = None,
    column_width: float | None = None,
) -> list[str]:
    """Codes for new grids of one community.

    Parameters
    ----------
    prefix : str
        The community code.
    centroids : ndarray (m, 2)
        Metric centroids of the new grids.
    members : sequence of frozenset
        Building ids of each new grid.
    previous : mapping code → frozenset
        The community's grids before, by code.
    taken : set of str, optional
        Codes that must not be reused (locked grids, other communities).
    column_width : float, optional
        Width of a column (metres); by default about one grid wide.

    Returns
    -------
    list of str

    Examples
    --------
    >>> cents = np.array([[900.0, 0.0], [0.0, 0.0]])
    >>> assign_codes("C1", cents, [frozenset({1}), frozenset({2})], {"C1007": frozenset({1})})
    ['C1007', 'C1001']
    """
    taken = set(taken or ())
    by_members = {m: code for code, m in previous.items() if code not in taken}
    codes: list[str | None] = [None] * len(members)
    for i, m in enumerate(members):
        code = by_members.pop(m, None)
        if code is not None:
            codes[i] = code
            taken.add(code)
    seq = 0
    for i in spatial_order(centroids, column_width):
        if codes[i] is not None:
            continue
        seq += 1
        while make_code(prefix, seq) in taken:
            seq += 1
        codes[i] = make_code(prefix, seq)
        taken.add(codes[i])
    return [c for c in codes if c is not None]

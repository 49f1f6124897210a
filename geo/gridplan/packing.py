"""Whether a community's households can be grouped into grids inside the band at all.

Geometry aside, a plan puts every building in one grid, so the households of
the buildings must split into groups whose sums all lie in the band. When no
such split exists, every plan keeps a grid outside the band: the community is
infeasible, whatever the algorithm. Tower communities (a handful of buildings
holding hundreds of households each) are where this happens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np


def packs(weights: Sequence[float], lo: float, hi: float, max_nodes: int = 20_000) -> bool | None:
    """Whether ``weights`` split into groups whose sums all lie in ``[lo, hi]``.

    Depth-first over multisets: the largest weight left opens a group, which is
    completed by every sub-multiset of the remaining weights landing in the
    band; multisets already shown impossible are remembered. Returns None when
    ``max_nodes`` steps (groups opened and weights tried, a count rather than a
    clock, so the answer does not depend on the machine) did not settle it.

    Examples
    --------
    >>> packs([18, 100, 108, 126, 150, 184, 208, 232], 255, 345)
    False
    >>> packs([150, 150, 200, 100], 255, 345)
    True
    >>> packs([], 255, 345)
    True
    """
    tally = sorted(Counter(float(x) for x in weights).items(), reverse=True)
    keys = [v for v, _ in tally]
    failed: set[tuple[int, ...]] = set()
    nodes = 0

    class OutOfNodes(Exception):
        pass

    def completions(counts: list[int], i: int, need_lo: float, room: float) -> Iterator[list]:
        """Ways to take from ``counts[i:]`` a sum in ``[need_lo, room]``, as (index, how many)."""
        nonlocal nodes
        nodes += 1
        if nodes > max_nodes:
            raise OutOfNodes
        if need_lo <= 0 <= room:
            yield []
        for j in range(i, len(counts)):
            for take in range(1, counts[j] + 1):
                if take * keys[j] > room:
                    break
                for rest in completions(
                    counts, j + 1, need_lo - take * keys[j], room - take * keys[j]
                ):
                    yield [(j, take), *rest]

    def search(counts: tuple[int, ...]) -> bool:
        first = next((j for j, c in enumerate(counts) if c), None)
        if first is None:
            return True
        if counts in failed:
            return False
        left = list(counts)
        left[first] -= 1
        for group in completions(left, first, lo - keys[first], hi - keys[first]):
            rest = left[:]
            for j, take in group:
                rest[j] -= take
            if search(tuple(rest)):
                return True
        failed.add(counts)
        return False

    try:
        return search(tuple(c for _, c in tally))
    except OutOfNodes:
        return None


def grouping_problem(
    households: Sequence[float], lo: float, hi: float, max_buildings: int = 40
) -> dict | None:
    """An infeasibility record when no grouping of ``households`` fits the band, else None.

    Buildings above the upper bound (infeasible grids of their own) and
    household-free buildings are left out. Only communities of at most
    ``max_buildings`` household-holding buildings are searched, under a node
    budget: beyond that the answer is "not shown infeasible" (None), never a
    false claim. The record's ``buildings`` are positions in ``households``.

    Examples
    --------
    >>> grouping_problem([18, 100, 108, 126, 150, 184, 208, 232, 0], 255, 345)["buildings"]
    [0, 1, 2, 3, 4, 5, 6, 7]
    >>> grouping_problem([150, 150, 200, 100], 255, 345) is None
    True
    """
    w = np.asarray(households, dtype=float)
    held = np.flatnonzero((w > 0) & (w <= hi))
    w = w[held]
    if len(w) == 0 or len(w) > max_buildings or w.sum() < lo:
        return None
    if packs(w, lo, hi) is not False:
        return None
    return {
        "kind": "no_grouping_fits",
        "detail": (
            f"the households of its {len(w)} buildings ({', '.join(f'{x:g}' for x in sorted(w))})"
            f" cannot be grouped into grids of [{lo:g}, {hi:g}]"
        ),
        "buildings": held.tolist(),
    }

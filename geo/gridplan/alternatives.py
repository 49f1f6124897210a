"""The nearest feasible alternatives for a community that no plan fits into the band.

For each kind of infeasibility the planner is shown what would make the
community fit: another number of grids and the tolerance those grids need, or
the smallest tolerance (in steps of 0.01) at which the households can be grouped.
"""

from __future__ import annotations

import math

import numpy as np

from geo.gridplan.packing import packs
from geo.gridplan.settings import band

STEP = 0.01
MAX_TOLERANCE = 0.99


def alternatives(
    kind: str, households, target: float, tolerance: float, plan=None
) -> list[dict]:
    """Alternatives for an infeasibility ``kind`` of a community with ``households`` per building.

    ``plan`` (households per grid of the plan drawn, optional) adds the
    tolerance at which that plan fits, for the grouping kinds. Returns a list
    of ``{"grids"?, "households_per_grid"?, "tolerance", "note"}``.

    Examples
    --------
    >>> alternatives("no_grid_count_fits", [382], 300, 0.15)
    [{'grids': 1, 'households_per_grid': 382.0, 'tolerance': 0.28, 'note': 'one grid'}, \
{'grids': 2, 'households_per_grid': 191.0, 'tolerance': 0.37, 'note': 'two grids'}]
    >>> alternatives("no_grouping_fits", [200, 200, 200], 300, 0.15)
    [{'tolerance': 0.34, 'note': 'the households can be grouped from this tolerance'}]
    """
    h = np.asarray(households, dtype=float)
    total = float(h.sum())
    if kind in ("community_too_small", "no_grid_count_fits"):
        if total <= 0:
            return [{"tolerance": None, "note": "no households: join a neighbouring community"}]
        out = []
        for k in sorted({max(1, math.floor(total / target)), max(1, math.ceil(total / target))}):
            per = total / k
            out.append(
                {
                    "grids": k,
                    "households_per_grid": round(per, 3),
                    "tolerance": _up(abs(per - target) / target),
                    "note": "one grid" if k == 1 else f"{_words(k)} grids",
                }
            )
        return out
    if kind == "building_over_upper_bound":
        return [{"tolerance": _up(h.max() / target - 1), "note": "the building alone as one grid"}]
    if kind in ("no_grouping_fits", "no_contiguous_grouping_fits"):
        out = []
        if plan is not None and len(plan):
            dev = float(np.max(np.abs(np.asarray(plan, dtype=float) - target))) / target
            out.append(
                {
                    "grids": int(len(plan)),
                    "tolerance": _up(dev),
                    "note": "the plan drawn fits the band at this tolerance",
                }
            )
        if kind == "no_contiguous_grouping_fits":
            return out
        t = tolerance + STEP
        while t <= MAX_TOLERANCE:
            lo, hi = band(target, round(t, 2))
            held = h[(h > 0) & (h <= hi)]
            if len(held) <= 40 and packs(held, lo, hi):
                note = "the households can be grouped from this tolerance"
                return [{"tolerance": round(t, 2), "note": note}, *out]
            t += STEP
        return out
    return []


def _up(x: float) -> float:
    """``x`` rounded up to the next step (0.01)."""
    return round(math.ceil(round(x / STEP, 6)) * STEP, 2)


def _words(k: int) -> str:
    return {2: "two", 3: "three", 4: "four"}.get(k, str(k))

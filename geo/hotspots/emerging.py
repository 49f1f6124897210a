"""Emerging hot spots: space-time Gi*, Mann–Kendall, ArcGIS categories.

Gi* on a space-time cube, Mann–Kendall per cell, and the ArcGIS Emerging Hot
Spot Analysis categories.

The cube
    ``counts[i, t]`` = incidents of cell ``i`` in time step ``t`` (weeks or calendar
    months), every study cell present, zeros included.

Gi* per bin
    ``time_window = 0`` (the default): every time step is its own Gi* study —
    binary k-ring weights, that step's mean and deviation — so a cell's z
    measures how concentrated incidents are around it *relative to that step*;
    a city-wide rise or a seasonal swing does not by itself make cells
    "intensifying". ``time_window = τ ≥ 1``: ArcGIS's space-time neighbourhood —
    a bin's neighbours are its k-ring cells in the same step and in the τ
    previous steps, and Gi* runs over the whole cube (mean and deviation of all
    bins). Either way bins are judged with Benjamini–Hochberg over all
    cell-steps at level ``alpha`` (default 0.10): a *hot bin* has z > 0 and
    passes 90 % confidence after FDR, a *cold bin* z < 0 and passes.

Trend
    Mann–Kendall (tie-corrected, continuity-corrected) on each cell's series of
    Gi* z-scores; significant when ``p < trend_alpha`` (default 0.05).

Categories (hot; the cold ones mirror them with cold bins and the trend sign
reversed, named ``<category>_cold``). "≥ 90 %" means at least 90 % of the steps.
Checked in this order; the first that applies wins.

* ``historical`` — the final step is not hot, but ≥ 90 % of the steps are hot.
* ``intensifying`` — ≥ 90 % of the steps are hot, including the final one, and
  the z-scores rise significantly (Mann–Kendall).
* ``diminishing`` — ≥ 90 % hot including the final step, and the z-scores fall
  significantly.
* ``persistent`` — ≥ 90 % hot including the final step, with no significant trend.
* ``new`` — hot in the final step and never hot before it.
* ``consecutive`` — a single uninterrupted run of at least two hot steps
  ending at the final step, never hot before that run, and < 90 % of steps hot.
* ``oscillating`` — hot in the final step, < 90 % of steps hot, and cold in at
  least one earlier step.
* ``sporadic`` — hot in the final step, < 90 % of steps hot, hot on and off
  before, never cold.
* ``none`` — none of the above, hot or cold.

A cell that qualifies for a hot category takes it; the cold categories are
checked only for the others.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from geo.errors import InvalidInput, NotEnoughData
from geo.hotspots.fdr import bh_reject
from geo.hotspots.gistar import gi_star_z, two_sided_p
from geo.hotspots.trend import MannKendall

HOT_CATEGORIES = ("historical", "intensifying", "diminishing", "persistent", "new",
                  "consecutive", "oscillating", "sporadic")
CATEGORIES = HOT_CATEGORIES + tuple(f"{c}_cold" for c in HOT_CATEGORIES) + ("none",)
PERSISTENT_SHARE = 0.9


def space_time_weights(W: sparse.csr_matrix, steps: int, time_window: int) -> sparse.csr_matrix:
    """Weights over bins ordered step-major (bin ``t*n + i``): k-ring × [t−window, t]."""
    band = sparse.diags([np.ones(steps - d) for d in range(time_window + 1)],
                        [-d for d in range(time_window + 1)], shape=(steps, steps))
    return sparse.kron(band, W, format="csr")


def classify(hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray,
             significant: np.ndarray) -> np.ndarray:
    """Category per cell from its hot/cold flags (n, T) and its trend."""
    out = np.full(hot.shape[0], "none", dtype=object)
    hot_rules = _rules(hot, cold, trend_z > 0, trend_z < 0, significant)
    cold_rules = _rules(cold, hot, trend_z < 0, trend_z > 0, significant)
    for suffix, rules in (("_cold", cold_rules), ("", hot_rules)):
        decided = np.zeros(hot.shape[0], dtype=bool)
        for name in HOT_CATEGORIES:
            take = rules[name] & ~decided
            out[take] = name + suffix
            decided |= take
    return out


def _rules(on: np.ndarray, other: np.ndarray, up: np.ndarray, down: np.ndarray,
           significant: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of each category for one side (hot, or cold with the roles swapped)."""
    steps = on.shape[1]
    share = on.mean(axis=1)
    last = on[:, -1]
    mostly = share >= PERSISTENT_SHARE
    before = on[:, :-1].sum(axis=1)
    run = np.cumprod(on[:, ::-1], axis=1).sum(axis=1)  # trailing run length
    other_before = other[:, :-1].any(axis=1)
    recent = last & ~mostly
    return {
        "historical": mostly & ~last,
        "intensifying": mostly & last & significant & up,
        "diminishing": mostly & last & significant & down,
        "persistent": mostly & last,
        "new": recent & (before == 0),
        "consecutive": recent & (run >= 2) & (on.sum(axis=1) == run) & (run < steps),
        "oscillating": recent & other_before,
        "sporadic": recent,
    }


class EmergingHotspots:
    """ArcGIS-style emerging hot spot analysis on a cells × steps count cube.

    Parameters
    ----------
    time_window : int
        Previous steps in each bin's neighbourhood (0 = spatial only).
    alpha : float
        BH-FDR level at which a bin counts as hot or cold.
    trend_alpha : float
        Significance level of the Mann–Kendall trend.

    Attributes
    ----------
    z_ : ndarray (n, T)
        Gi* z-score per cell and step.
    hot_, cold_ : ndarray of bool (n, T)
        Significant hot / cold bins.
    trend_z_, trend_p_ : ndarray (n,)
        Mann–Kendall score and two-sided p-value of each cell's z series.
    category_ : ndarray of str (n,)
        One of ``CATEGORIES``.
    """

    def __init__(self, time_window: int = 0, alpha: float = 0.10, trend_alpha: float = 0.05):
        self.time_window = time_window
        self.alpha = alpha
        self.trend_alpha = trend_alpha

    def fit(self, counts: np.ndarray, W: sparse.csr_matrix) -> EmergingHotspots:
        """Analyse ``counts`` (n cells, T steps) with spatial weights ``W`` (n, n)."""
        counts = np.asarray(counts, dtype=float)
        if counts.ndim != 2:
            raise InvalidInput("counts must be a cells × steps array")
        n, steps = counts.shape
        if steps < 3:
            raise NotEnoughData(f"emerging hot spots need at least 3 time steps, got {steps}")
        if counts.sum() <= 0:
            raise NotEnoughData("no incidents in the study area for this window")
        if self.time_window == 0:
            z = gi_star_z(counts, W)  # each step its own Gi* study
        else:
            W_st = space_time_weights(W, steps, self.time_window)
            z = gi_star_z(counts.T.ravel(), W_st).reshape(steps, n).T
        significant = bh_reject(two_sided_p(z).ravel(), self.alpha).reshape(n, steps)
        self.z_ = z
        self.hot_ = significant & (z > 0)
        self.cold_ = significant & (z < 0)
        mk = MannKendall().fit(z)
        self.trend_z_, self.trend_p_ = mk.z_, mk.p_
        self.category_ = classify(self.hot_, self.cold_, self.trend_z_,
                                  self.trend_p_ < self.trend_alpha)
        return self

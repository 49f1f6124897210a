"""Benjamini–Hochberg false-discovery-rate control and the ±1/±2/±3 bins.

With ``m`` p-values sorted ascending ``p(1) <= ... <= p(m)``, BH at level ``q``
rejects every hypothesis whose p-value is at most ``p(i*)``, where ``i*`` is the
largest ``i`` with ``p(i) <= q * i / m`` (none when no such ``i`` exists).

Bins: a cell rejected at level ``alpha/5`` gets ±3, else at ``alpha`` ±2, else
at ``2*alpha`` ±1, else 0; the sign is the sign of its z-score. With the default
``alpha = 0.05`` the levels are 0.01/0.05/0.10, i.e. 99/95/90 % confidence.
"""

from __future__ import annotations

import numpy as np

from geo.errors import InvalidInput

LEVEL_FACTORS = (0.2, 1.0, 2.0)  # bins 3, 2, 1 use alpha * factor


def bh_reject(p: np.ndarray, q: float) -> np.ndarray:
    """Which hypotheses Benjamini–Hochberg rejects at FDR level ``q``.

    Parameters
    ----------
    p : ndarray
        p-values (NaN counts as 1).
    q : float
        False-discovery rate, 0 < q < 1.

    Returns
    -------
    ndarray of bool

    Examples
    --------
    >>> bh_reject(np.array([0.001, 0.02, 0.04, 0.5]), 0.05).tolist()
    [True, True, False, False]
    """
    if not 0 < q < 1:
        raise InvalidInput(f"FDR level must be in (0, 1), got {q}")
    p = np.where(np.isnan(p), 1.0, np.asarray(p, dtype=float))
    m = p.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.sort(p)
    passing = np.nonzero(order <= q * np.arange(1, m + 1) / m)[0]
    if passing.size == 0:
        return np.zeros(m, dtype=bool)
    return p <= order[passing[-1]]


def fdr_levels(alpha: float) -> tuple[float, float, float]:
    """FDR levels of bins 3, 2 and 1 for a given ``alpha``."""
    if not 0 < alpha <= 0.2:
        raise InvalidInput(f"alpha must be in (0, 0.2], got {alpha}")
    return tuple(alpha * f for f in LEVEL_FACTORS)  # type: ignore[return-value]


def fdr_bins(z: np.ndarray, p: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Bins −3..3 from z-scores and two-sided p-values under BH-FDR.

    Examples
    --------
    >>> fdr_bins(np.array([3.5, -2.2, 0.1]), np.array([0.0005, 0.028, 0.92])).tolist()
    [3, -2, 0]
    """
    z = np.asarray(z, dtype=float)
    strength = np.zeros(z.shape, dtype=np.int8)
    for n_bin, level in zip((3, 2, 1), fdr_levels(alpha), strict=True):
        hit = bh_reject(p, level) & (strength == 0)
        strength[hit] = n_bin
    return (np.sign(z).astype(np.int8) * strength).astype(np.int8)


def confidence_label(level: float) -> str:
    """``0.01`` → ``"99"``, ``0.025`` → ``"97.5"``."""
    return f"{100 * (1 - level):.4g}"


def class_labels(bins: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Class names per bin: ``hot_99``, ``cold_95``, ``not_significant``, etc."""
    levels = fdr_levels(alpha)
    names = {0: "not_significant"}
    for n_bin, level in zip((3, 2, 1), levels, strict=True):
        names[n_bin] = f"hot_{confidence_label(level)}"
        names[-n_bin] = f"cold_{confidence_label(level)}"
    lookup = np.array([names[b] for b in range(-3, 4)], dtype=object)
    return lookup[np.asarray(bins, dtype=int) + 3]

"""Getis–Ord Gi* with binary weights and analytic (normal) inference.

For counts ``x`` on ``n`` cells and a binary weight matrix ``W`` whose diagonal
is 1 (the cell itself is its own neighbour: the *star* statistic),

    z_i = (sum_j w_ij x_j − x̄ W_i) / (S sqrt((n W_i − W_i²) / (n − 1)))

with ``W_i = sum_j w_ij``, ``x̄`` the mean and ``S`` the *population* standard
deviation ``sqrt(mean(x²) − x̄²)``. This is algebraically the z of
``esda.G_Local(y, w, transform="B", star=True).Zs`` (esda writes it as
``(G_i − E[G_i]) / sqrt(V[G_i])`` with ``G_i = sum_j w_ij x_j / sum x``); the
tests check equality to 1e-9. p-values are two-sided, ``2 * (1 − Φ(|z|))``.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.special import ndtr

from geo.errors import InvalidInput, NotEnoughData
from geo.hotspots.fdr import class_labels, fdr_bins


def gi_star_z(x: np.ndarray, W: sparse.csr_matrix) -> np.ndarray:
    """Gi* z-scores of ``x`` (n,) or of every column of ``x`` (n, t) at once.

    Columns share ``W`` but each has its own mean and deviation.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    if W.shape != (n, n):
        raise InvalidInput(f"weights are {W.shape[0]}x{W.shape[1]} but there are {n} values")
    if n < 3:
        raise NotEnoughData(f"Gi* needs at least 3 cells, got {n}")
    w_i = np.asarray(W.sum(axis=1)).ravel()
    mean = x.mean(axis=0)
    std = np.sqrt(np.maximum((x * x).mean(axis=0) - mean * mean, 0.0))
    lag = W @ x
    spread = np.sqrt(np.maximum(n * w_i - w_i * w_i, 0.0) / (n - 1))
    if x.ndim == 2:
        w_i, spread = w_i[:, None], spread[:, None]
    denom = std * spread
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (lag - mean * w_i) / denom
    return np.where(denom > 0, z, 0.0)


def two_sided_p(z: np.ndarray) -> np.ndarray:
    """Two-sided normal p-values."""
    return 2.0 * ndtr(-np.abs(z))


class GiStar:
    """Local Gi* hot/cold spots with Benjamini–Hochberg FDR bins.

    Parameters
    ----------
    alpha : float
        FDR level of the middle bin (bins use ``alpha/5``, ``alpha``, ``2*alpha``).

    Attributes
    ----------
    z_ : ndarray
        Gi* z-scores.
    p_ : ndarray
        Two-sided p-values.
    bins_ : ndarray of int8
        −3..3 after BH-FDR.
    classes_ : ndarray of str
        ``hot_99`` … ``not_significant``.

    Examples
    --------
    >>> from scipy import sparse
    >>> W = sparse.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]]))
    >>> GiStar().fit(np.array([9.0, 7.0, 1.0, 0.0]), W).z_.round(3).tolist()
    [1.695, 1.109, -1.239, -1.695]
    """

    def __init__(self, alpha: float = 0.05):
        self.alpha = alpha

    def fit(self, counts: np.ndarray, W: sparse.csr_matrix) -> GiStar:
        """Compute z, p, bins and classes for ``counts`` on weights ``W``."""
        counts = np.asarray(counts, dtype=float)
        if counts.ndim != 1:
            raise InvalidInput("counts must be one value per cell")
        if counts.sum() <= 0:
            raise NotEnoughData("no incidents in the study area for this window")
        if np.all(counts == counts[0]):
            raise NotEnoughData("every cell has the same count; there is nothing to contrast")
        self.z_ = gi_star_z(counts, W)
        self.p_ = two_sided_p(self.z_)
        self.bins_ = fdr_bins(self.z_, self.p_, self.alpha)
        self.classes_ = class_labels(self.bins_, self.alpha)
        return self

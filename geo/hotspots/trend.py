"""Mann–Kendall trend test, vectorised over many series at once.

For a series ``x_1..x_n``: ``S = sum_{i<j} sign(x_j − x_i)``;
``Var(S) = [n(n−1)(2n+5) − sum_g t_g(t_g−1)(2t_g+5)] / 18`` where ``t_g`` are
the sizes of the groups of tied values; ``Z = (S − 1)/sqrt(Var)`` for ``S > 0``,
``(S + 1)/sqrt(Var)`` for ``S < 0``, else 0 (continuity correction); the
p-value is two-sided from the normal distribution.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from geo.errors import NotEnoughData


def mk_s(x: np.ndarray) -> np.ndarray:
    """The S statistic of every row of ``x`` (m, n)."""
    n = x.shape[1]
    s = np.zeros(x.shape[0], dtype=np.int64)
    for lag in range(1, n):  # n−1 vector operations over all rows and pairs at that lag
        s += np.sign(x[:, lag:] - x[:, :-lag]).astype(np.int64).sum(axis=1)
    return s


def tie_term(x: np.ndarray) -> np.ndarray:
    """``sum_g t(t−1)(2t+5)`` over the groups of equal values of each row."""
    m, n = x.shape
    srt = np.sort(x, axis=1)
    new_group = np.ones((m, n), dtype=bool)
    new_group[:, 1:] = srt[:, 1:] != srt[:, :-1]
    starts = np.flatnonzero(new_group.ravel())
    sizes = np.diff(np.append(starts, m * n))
    rows = starts // n
    terms = sizes * (sizes - 1) * (2 * sizes + 5)
    return np.bincount(rows, weights=terms, minlength=m)


class MannKendall:
    """Mann–Kendall monotonic trend test on each row of a 2-D array.

    Attributes
    ----------
    s_ : ndarray of int
        S statistic per row.
    var_ : ndarray
        Tie-corrected variance of S.
    z_ : ndarray
        Continuity-corrected normal score (positive = increasing).
    p_ : ndarray
        Two-sided p-value.

    Examples
    --------
    >>> mk = MannKendall().fit(np.array([[1.0, 2, 3, 4, 5], [3, 3, 3, 3, 3]]))
    >>> mk.s_.tolist(), mk.z_.round(4).tolist()
    ([10, 0], [2.2045, 0.0])
    """

    def fit(self, x: np.ndarray) -> MannKendall:
        """Test every row of ``x`` (series along axis 1)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        n = x.shape[1]
        if n < 3:
            raise NotEnoughData(f"a trend needs at least 3 time steps, got {n}")
        self.s_ = mk_s(x)
        self.var_ = (n * (n - 1) * (2 * n + 5) - tie_term(x)) / 18.0
        s = self.s_.astype(float)
        corrected = s - np.sign(s)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = corrected / np.sqrt(self.var_)
        self.z_ = np.where(self.var_ > 0, z, 0.0)
        self.p_ = 2.0 * ndtr(-np.abs(self.z_))
        return self

"""Maximal covering location: pick k new cameras that see the most uncovered demand.

The problem is given as a sparse 0/1 matrix ``A`` (candidates × demand points:
candidate ``j`` sees point ``i``), demand weights ``w`` and a site per
candidate (several azimuths share one site; at most one camera per site).

* :class:`LazyGreedy` — the classic greedy with lazy re-evaluation (gains only
  shrink as points get covered, so a stale gain is an upper bound): fast, and
  within ``1 − 1/e`` of the optimum for this submodular objective.
* :class:`ExactMCLP` — the integer program of Church & ReVelle (1974), solved by
  CBC (shipped with PuLP) under a time limit; the relative MIP gap is reported.
"""

from __future__ import annotations

import heapq
import re
import time
from enum import StrEnum

import numpy as np
from scipy import sparse

from geo.coverage.cbc import run_cbc


class SitingMethod(StrEnum):
    """How the sites are picked (``auto``: exactly when the problem is small)."""

    GREEDY = "greedy"
    EXACT = "exact"
    AUTO = "auto"


class SolverStatus(StrEnum):
    """How the exact solver ended (``ExactMCLP.status_``)."""

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"  # CBC stopped itself at its limit: its bound is reported
    STOPPED = "stopped"
    KILLED_AT_TIME_LIMIT = "killed_at_time_limit"  # no answer in time: the greedy one
    CANCELLED = "cancelled"  # the caller went away: the greedy one


def _prepare(A, w, sites) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    A = sparse.csr_matrix(A, dtype=bool)
    w = np.asarray(w, dtype=float)
    sites = np.arange(A.shape[0]) if sites is None else np.asarray(sites)
    if A.shape[1] != len(w) or A.shape[0] != len(sites):
        raise ValueError("A must be candidates × demand, w per demand, sites per candidate")
    return A, w, sites


def curve_of(A: sparse.csr_matrix, w: np.ndarray, order) -> np.ndarray:
    """Weight covered after each candidate of ``order`` is added (cumulative)."""
    covered = np.zeros(A.shape[1], dtype=bool)
    out = []
    total = 0.0
    for j in order:
        cols = A.indices[A.indptr[j]:A.indptr[j + 1]]
        new = cols[~covered[cols]]
        total += w[new].sum()
        covered[new] = True
        out.append(total)
    return np.array(out)


class LazyGreedy:
    """Greedy maximal covering with lazy gain updates.

    Parameters
    ----------
    k : int
        Cameras to add.
    one_per_site : bool
        At most one chosen candidate per site.

    Attributes
    ----------
    chosen_ : ndarray
        Candidate indices in the order picked.
    gains_ : ndarray
        Weight each pick added.
    objective_ : float
        Total weight covered by the picks.
    seconds_ : float
        Time taken.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]])
    >>> LazyGreedy(2).fit(A, np.ones(4)).objective_
    4.0
    """

    def __init__(self, k: int, one_per_site: bool = True):
        self.k = k
        self.one_per_site = one_per_site

    def fit(self, A, w, sites=None) -> LazyGreedy:
        """Pick up to ``k`` candidates."""
        t0 = time.perf_counter()
        A, w, sites = _prepare(A, w, sites)
        covered = np.zeros(A.shape[1], dtype=bool)
        gains = np.asarray(A @ w).ravel() if A.shape[1] else np.zeros(A.shape[0])
        heap = [(-g, j) for j, g in enumerate(gains) if g > 0]
        heapq.heapify(heap)
        used_sites: set = set()
        chosen, got = [], []
        while heap and len(chosen) < self.k:
            neg, j = heapq.heappop(heap)
            if self.one_per_site and sites[j] in used_sites:
                continue
            cols = A.indices[A.indptr[j]:A.indptr[j + 1]]
            fresh = w[cols[~covered[cols]]].sum()
            if heap and fresh < -heap[0][0] - 1e-12:
                if fresh > 0:
                    heapq.heappush(heap, (-fresh, j))
                continue
            if fresh <= 0:
                break
            covered[cols] = True
            chosen.append(j)
            got.append(fresh)
            used_sites.add(sites[j])
        self.chosen_ = np.array(chosen, dtype=np.int64)
        self.gains_ = np.array(got)
        self.objective_ = float(self.gains_.sum())
        self.seconds_ = time.perf_counter() - t0
        return self


class ExactMCLP:
    """Maximal covering location problem solved exactly by CBC (time-limited).

    Parameters
    ----------
    k : int
        Cameras to add.
    time_limit : float
        Seconds CBC may use; the best solution found and its gap are reported.
    one_per_site : bool
        At most one chosen candidate per site.

    Attributes
    ----------
    chosen_ : ndarray
        Chosen candidates, ordered by marginal gain (greedy order within the set).
    objective_ : float
        Weight covered.
    bound_ : float
        Upper bound on the optimum proved by the solver.
    gap_ : float
        ``(bound − objective) / bound`` (0 when proved optimal).
    status_ : str
        ``optimal``, ``time_limit`` (CBC stopped itself), ``killed_at_time_limit`` or
        ``cancelled`` (the greedy answer; see ``fit``).
    seconds_ : float
        Time taken.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]])
    >>> ExactMCLP(2).fit(A, np.ones(4)).objective_
    4.0
    """

    def __init__(self, k: int, time_limit: float = 30.0, one_per_site: bool = True):
        self.k = k
        self.time_limit = time_limit
        self.one_per_site = one_per_site

    def fit(self, A, w, sites=None, cancel=None) -> ExactMCLP:
        """Solve the integer program.

        CBC runs as a child killed ``time_limit`` (+ a short grace) after it starts, or
        when ``cancel`` (a ``threading.Event``) is set; the greedy answer is returned
        then, with ``status_`` ``killed_at_time_limit`` or ``cancelled``.
        """
        import pulp

        t0 = time.perf_counter()
        A, w, sites = _prepare(A, w, sites)
        useful = np.flatnonzero(np.asarray(A.sum(axis=0)).ravel() > 0)
        At = A[:, useful].T.tocsr()
        prob = pulp.LpProblem("mclp", pulp.LpMaximize)
        x = [pulp.LpVariable(f"x{j}", cat="Binary") for j in range(A.shape[0])]
        y = [pulp.LpVariable(f"y{i}", lowBound=0, upBound=1) for i in range(len(useful))]
        prob += pulp.lpSum(float(w[d]) * y[i] for i, d in enumerate(useful))
        for i in range(len(useful)):
            cand = At.indices[At.indptr[i]:At.indptr[i + 1]]
            prob += y[i] <= pulp.lpSum(x[j] for j in cand)
        prob += pulp.lpSum(x) <= self.k
        if self.one_per_site:
            for s in np.unique(sites):
                members = np.flatnonzero(sites == s)
                if len(members) > 1:
                    prob += pulp.lpSum(x[j] for j in members) <= 1
        run = run_cbc(prob, self.time_limit, cancel=cancel)
        if not run.finished:  # killed at the deadline (or cancelled): the greedy answer
            greedy = LazyGreedy(self.k, self.one_per_site).fit(A, w, sites)
            self.chosen_ = greedy.chosen_
            curve = curve_of(A, w, self.chosen_)
            self.objective_ = float(curve[-1]) if len(curve) else 0.0
            self.status_ = (SolverStatus.CANCELLED if run.cancelled
                            else SolverStatus.KILLED_AT_TIME_LIMIT)
            self.bound_, self.gap_ = float("inf"), 1.0
            self.seconds_ = time.perf_counter() - t0
            return self
        text = run.log
        picked = [j for j in range(A.shape[0]) if (x[j].value() or 0) > 0.5]
        order = LazyGreedy(len(picked), self.one_per_site).fit(A[picked], w, sites[picked]).chosen_
        rest = [j for j in range(len(picked)) if j not in set(order.tolist())]
        self.chosen_ = np.array([picked[j] for j in [*order.tolist(), *rest]], dtype=np.int64)
        curve = curve_of(A, w, self.chosen_)
        self.objective_ = float(curve[-1]) if len(curve) else 0.0
        self.status_, self.bound_ = _cbc_outcome(text, self.objective_)
        self.gap_ = (self.bound_ - self.objective_) / self.bound_ if self.bound_ > 0 else 0.0
        self.seconds_ = time.perf_counter() - t0
        return self


def _cbc_outcome(log: str, objective: float) -> tuple[SolverStatus, float]:
    """Status and proved bound from CBC's log (its minimisation is of −objective)."""
    if "Optimal solution found" in log:
        return SolverStatus.OPTIMAL, objective
    status = SolverStatus.TIME_LIMIT if "time limit" in log.lower() else SolverStatus.STOPPED
    m = re.search(r"Lower bound:\s*(-?[\d.eE+-]+)", log)
    if m:
        return status, max(objective, abs(float(m.group(1))))
    m = re.search(r"best possible\s*(-?[\d.eE+-]+)", log)
    if m:
        return status, max(objective, abs(float(m.group(1))))
    return status, float("inf")

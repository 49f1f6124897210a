"""Exact split of an atom graph into contiguous grids by a constraint solver.

The same question as :class:`~geo.gridplan.frontier.FrontierSplit` — can the
atoms be split into connected grids whose households lie in the band? — put to
OR-Tools' CP-SAT, which learns from its conflicts where the frontier search
has to keep every state. The two are complementary on tower pieces: pieces
whose households admit many partial sums overflow the frontier's states, while
the solver proves them in seconds; long thin pieces go the other way.

The model. Atoms with households come first, heaviest first, so that every
grid is *rooted* at its lowest-numbered atom, which holds households. ``b[v, r]``
says atom ``v`` lies in the grid rooted at ``r``; it exists only when a path
from ``r`` to ``v`` through atoms numbered ``r`` or more carries no more than the
upper bound of households (a grid holds such a path, so nothing is lost). Every
atom is in one grid; a root's grid is inside the band; every atom but a root has
one *parent*, a neighbour of its grid with a smaller depth, so following
parents from any atom reaches its root inside the grid: the grid is connected.
Conversely every connected grid has such parents (a breadth-first tree), so
"infeasible" proves that no contiguous split exists.

The solver runs on one thread with a *deterministic* work limit, so the answer
does not depend on the machine or its load; past the limit it is
``"undecided"``.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from scipy import sparse

from geo.gridplan.exact import neighbours, plan_fits
from geo.gridplan.frontier import FEASIBLE, INFEASIBLE, UNDECIDED

WORK = 100.0  # deterministic work units (about 50 s of one core here) per piece; the hardest
# piece of the demos (370302008007, large) takes 76.8
MAX_ATOMS = 150  # larger tower pieces were not decided in 300 s (the demos' 200-building ones)
SCALE = 100  # households are kept in hundredths, exactly, as integers


class ConstraintSplit:
    """Decide (and, when possible, build) a contiguous split of atoms into the band.

    Parameters
    ----------
    lo, hi : float
        Band of a grid's households.
    max_work : float
        CP-SAT's deterministic time limit: past it the answer is ``"undecided"``.
    seed : int
        The solver's random seed (one thread: the same seed, the same answer).

    Attributes
    ----------
    status_ : str
        ``"feasible"``, ``"infeasible"`` (proved by the solver) or ``"undecided"``.
    labels_ : ndarray of int or None
        Grid of every atom (0..k-1) when feasible.
    work_ : float
        Deterministic work spent.

    Examples
    --------
    Households 200, 200, 100, 100 on a path: the 200s cannot each reach a 100.

    >>> from scipy import sparse
    >>> def path(n):
    ...     return sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1]).tocsr()
    >>> ConstraintSplit(255, 345).fit(np.array([200., 200, 100, 100]), path(4)).status_
    'infeasible'
    >>> ConstraintSplit(255, 345).fit(np.array([200., 100, 0, 200, 100]), path(5)).labels_.tolist()
    [0, 0, 1, 1, 1]
    """

    def __init__(self, lo: float, hi: float, max_work: float = WORK, seed: int = 0):
        self.lo, self.hi = float(lo), float(hi)
        self.max_work = float(max_work)
        self.seed = seed

    def fit(self, w, adj) -> ConstraintSplit:
        """Decide for atoms of households ``w`` on the symmetric ``adj`` (one component)."""
        from ortools.sat.python import cp_model

        w = np.asarray(w, dtype=float)
        adj = sparse.csr_array(adj)
        self.status_, self.labels_, self.work_ = UNDECIDED, None, 0.0
        if not len(w):
            self.status_, self.labels_ = FEASIBLE, np.zeros(0, dtype=np.int64)
            return self
        if not np.allclose(w * SCALE, np.rint(w * SCALE), rtol=0, atol=1e-6):
            return self  # households finer than hundredths: not put to the solver
        if self.lo <= 0:
            return self  # a grid without households could fit: the model roots grids at one
        model = _Model(w, adj, self.lo, self.hi)
        if model.hopeless:
            self.status_ = INFEASIBLE
            return self
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = self.seed
        solver.parameters.max_deterministic_time = self.max_work
        status = solver.Solve(model.cp)
        self.work_ = float(solver.deterministic_time)
        if status == cp_model.INFEASIBLE:
            self.status_ = INFEASIBLE
        elif status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            labels = model.labels(solver)
            if plan_fits(labels, w, neighbours(adj, len(w)), self.lo, self.hi):  # checked
                self.status_, self.labels_ = FEASIBLE, labels
        return self


class _Model:
    """The CP-SAT model of one piece (see the module's docstring)."""

    def __init__(self, w, adj, lo, hi):
        from ortools.sat.python import cp_model

        n = len(w)
        self.order = sorted(range(n), key=lambda v: (w[v] <= 0, -w[v], v))
        at = np.empty(n, dtype=np.int64)
        at[self.order] = np.arange(n)
        nbrs = [
            sorted(set(at[adj.indices[adj.indptr[v] : adj.indptr[v + 1]]].tolist()) - {at[v]})
            for v in self.order
        ]
        hh = np.rint(w[self.order] * SCALE).astype(np.int64)
        low, high = math.ceil(lo * SCALE - 1e-6), math.floor(hi * SCALE + 1e-6)
        roots = int(np.count_nonzero(hh > 0))
        reach = [_reachable(nbrs, hh, r, high) for r in range(roots)]
        m = cp_model.CpModel()
        self.cp = m
        self.member: dict[tuple[int, int], object] = {}
        self.grids_of: list[list[int]] = [[] for _ in range(n)]
        for r, atoms in enumerate(reach):
            for v in atoms:
                self.member[v, r] = m.NewBoolVar(f"b{v}_{r}")
                self.grids_of[v].append(r)
        self.hopeless = any(not g for g in self.grids_of)
        if self.hopeless:  # an atom no grid can hold
            return
        for v in range(n):
            m.AddExactlyOne(self.member[v, r] for r in self.grids_of[v])
        is_root = [self.member[r, r] for r in range(roots)]
        for r, atoms in enumerate(reach):
            held = sum(int(hh[v]) * self.member[v, r] for v in atoms if hh[v] > 0)
            m.Add(held >= low).OnlyEnforceIf(is_root[r])
            m.Add(held <= high)
            for v in atoms:
                if v != r:
                    m.AddImplication(self.member[v, r], is_root[r])
        total = int(hh.sum())
        m.Add(sum(is_root) >= -(-total // high))
        m.Add(sum(is_root) <= total // max(low, 1))
        self._parents(m, nbrs, roots, is_root)

    def _parents(self, m, nbrs, roots, is_root) -> None:
        """Every atom but a root has one parent: a neighbour in its grid, of smaller depth."""
        n = len(nbrs)
        depth = [m.NewIntVar(0, n, f"d{v}") for v in range(n)]
        for v in range(n):
            parents = []
            for u in nbrs[v]:
                if not any((u, r) in self.member for r in self.grids_of[v]):
                    continue
                p = m.NewBoolVar(f"p{v}_{u}")
                parents.append(p)
                m.Add(depth[u] < depth[v]).OnlyEnforceIf(p)
                for r in self.grids_of[v]:
                    if (u, r) in self.member:  # same grid as the parent
                        m.AddBoolOr([p.Not(), self.member[v, r].Not(), self.member[u, r]])
                    else:
                        m.AddImplication(p, self.member[v, r].Not())
            if v < roots:
                m.Add(depth[v] == 0).OnlyEnforceIf(is_root[v])
                m.Add(sum(parents) == 0).OnlyEnforceIf(is_root[v])
                m.Add(sum(parents) == 1).OnlyEnforceIf(is_root[v].Not())
            else:
                m.Add(sum(parents) == 1)

    def labels(self, solver) -> np.ndarray:
        """Grid of every atom (in the caller's numbering), grids numbered 0..k-1."""
        root = [
            next(r for r in rs if solver.Value(self.member[v, r]))
            for v, rs in enumerate(self.grids_of)
        ]
        _, grid = np.unique(root, return_inverse=True)
        labels = np.empty(len(root), dtype=np.int64)
        labels[self.order] = grid
        return labels


def _reachable(nbrs, hh, r, high) -> list[int]:
    """Atoms a grid rooted at ``r`` may hold: reached through atoms ≥ ``r`` within ``high``."""
    best = {r: int(hh[r])}
    queue = [(int(hh[r]), r)]
    while queue:
        held, x = heapq.heappop(queue)
        if held > best[x]:
            continue
        for u in nbrs[x]:
            more = held + int(hh[u])
            if u > r and more <= high and more < best.get(u, high + 1):
                best[u] = more
                heapq.heappush(queue, (more, u))
    return sorted(best)


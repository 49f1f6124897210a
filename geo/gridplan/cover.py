"""Exact cover of the household-holding buildings by candidate groups.

The candidates are connected groups of buildings, each with the household-free
buildings that link it (its *links*). A cover picks groups so that every
building is in exactly one group and no link building serves two groups; the
chosen groups then grow into grids. The linear relaxation (HiGHS, in process)
ranks the candidates, and a second one bounds how few groups any cover leaves
outside the band (the searches allowing fewer are not run); a depth-first
search then builds the cover, always
branching on the building with the fewest groups still possible, remembering
dead ends and cutting branches whose uncovered buildings can no longer be
grouped inside the band. The search counts nodes, not seconds, so the same
input gives the same cover on any machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from geo.gridplan.recombine import band_cost


class ExactCover:
    """Pick disjoint groups covering every item once, preferring groups inside the band.

    Parameters
    ----------
    target, lo, hi : float
        Target and band of a group's weight.
    max_nodes : int
        Search nodes per attempt.
    levels : sequence of int
        Attempts in order: the number of groups allowed outside the band
        (``0`` first: a cover entirely inside the band).

    Attributes
    ----------
    chosen_ : list of int or None
        Indices of the chosen groups (None when no cover was found).
    outside_ : int
        Chosen groups outside the band.
    nodes_ : int
        Search nodes used.

    Examples
    --------
    >>> w = np.array([150.0, 150.0, 200.0, 100.0])
    >>> groups = [(0,), (1,), (2,), (3,), (0, 1), (2, 3), (1, 2)]
    >>> ec = ExactCover(300, 255, 345).fit(w, groups, [frozenset()] * len(groups))
    >>> sorted(ec.chosen_)
    [4, 5]
    """

    def __init__(
        self,
        target: float,
        lo: float,
        hi: float,
        max_nodes: int = 2000,
        levels: Sequence[int] = (0, 1, 2),
    ):
        self.target, self.lo, self.hi = float(target), float(lo), float(hi)
        self.max_nodes = max_nodes
        self.levels = tuple(levels)

    def fit(self, w: np.ndarray, groups: list[tuple], links: list[frozenset]) -> ExactCover:
        """Cover items ``0..len(w)-1`` (weights ``w``) with ``groups`` (item tuples)."""
        w = np.asarray(w, dtype=float)
        self.chosen_, self.outside_, self.nodes_ = None, 0, 0
        if len(groups) == 0:
            return self
        wl = w.tolist()
        sums = np.array([sum(wl[i] for i in g) for g in groups], dtype=float)
        inside = (sums >= self.lo - 1e-9) & (sums <= self.hi + 1e-9)
        rows = _Rows(len(w), groups, links)
        rank, bound = self._relaxation(rows, band_cost(sums, self.target, self.lo, self.hi))
        if bound == np.inf:
            return self
        order = np.lexsort((np.abs(sums - self.target), ~inside, -np.round(rank, 3)))
        limits = (self.lo, self.hi, self.max_nodes)
        # the relaxation's own groups first (often a cover already), then all of them
        small = _Search(w, groups, links, inside, order[rank[order] > 1e-6], *limits)
        full = fewest = None
        worst_inside = len(w) * max(self.hi - self.target, self.target - self.lo) ** 2 / self.target
        for q in self.levels:
            if q == 0 and bound > worst_inside + 1e-6:
                continue  # the relaxation already costs more than any cover inside the band
            if q > 0 and fewest is None:  # asked once a cover inside the band is out of reach
                # no cover leaves fewer groups outside the band than the relaxation of that count
                _, fewest = self._relaxation(rows, (~inside).astype(float))
            if q > 0 and q < fewest - 1e-4:
                continue  # even fractionally, more than q groups must lie outside the band
            chosen = small.run(q)
            self.nodes_ += small.nodes
            if chosen is None:
                if full is None:
                    full = _Search(w, groups, links, inside, order, *limits)
                chosen = full.run(q)
                self.nodes_ += full.nodes
            if chosen is not None:
                self.chosen_ = chosen
                self.outside_ = int((~inside[chosen]).sum())
                break
        return self

    @staticmethod
    def _relaxation(rows: _Rows, cost: np.ndarray) -> tuple[np.ndarray, float]:
        """LP values of the groups and the LP optimum of ``cost`` (zeros and 0 when it fails).

        The optimum bounds every cover's ``cost`` from below; ``inf`` when no
        cover exists even fractionally.
        """
        res = linprog(
            cost,
            A_ub=rows.a_ub,
            b_ub=rows.b_ub,
            A_eq=rows.a_eq,
            b_eq=np.ones(rows.a_eq.shape[0]),
            bounds=(0, 1),
            method="highs-ds",  # dual simplex: the demos' solutions of "highs", ~20 % sooner
        )
        if res.status == 2:  # not even fractionally: no cover at all
            return np.zeros(len(cost)), np.inf
        if res.x is None:
            return np.zeros(len(cost)), 0.0
        return res.x, float(res.fun) if res.status == 0 else 0.0  # a bound only when optimal


class _Rows:
    """The cover's constraints: each item in one group; each link atom in one group at most."""

    def __init__(self, n_items: int, groups: list[tuple], links: list[frozenset]):
        rows = np.concatenate([np.asarray(g, dtype=np.int64) for g in groups])
        cols = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
        shape = (n_items, len(groups))
        self.a_eq = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=shape)
        users: dict[int, list[int]] = {}
        for i, lk in enumerate(links):
            for z in lk:
                users.setdefault(z, []).append(i)
        shared = [u for u in users.values() if len(u) > 1]
        self.a_ub = self.b_ub = None
        if shared:
            r = np.repeat(np.arange(len(shared)), [len(u) for u in shared])
            c = np.concatenate([np.asarray(u, dtype=np.int64) for u in shared])
            shape = (len(shared), len(groups))
            self.a_ub = sparse.csr_array((np.ones(len(r)), (r, c)), shape=shape)
            self.b_ub = np.ones(len(shared))


class _Search:
    """Depth-first exact cover on bit masks (items and link atoms)."""

    def __init__(self, w, groups, links, inside, order, lo, hi, max_nodes):
        self.m, self.lo, self.hi, self.max_nodes = len(w), lo, hi, max_nodes
        self.w = w.tolist()
        self.options: list[list[tuple[int, int, bool, int]]] = [[] for _ in range(self.m)]
        self.near = [0] * self.m  # items that share a group: a cover's groups stay inside these
        for i in order.tolist():  # the groups searched, best first
            mask = _mask(groups[i])
            opt = (mask, _mask(links[i]), bool(inside[i]), i)
            for a in groups[i]:
                self.options[a].append(opt)
                self.near[a] |= mask
        self.full = (1 << self.m) - 1
        # items with few groups first: the first scan then sets a low bar for the others
        self.scan = sorted(range(self.m), key=lambda a: (len(self.options[a]), a))

    def run(self, q: int) -> list[int] | None:
        self.nodes, self.failed, self.chosen = 0, set(), []
        return list(self.chosen) if self._dfs(0, 0, q) else None

    def _dfs(self, covered: int, used: int, q: int) -> bool:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            return False
        if covered == self.full:
            return True
        key = (covered, used, q)
        if key in self.failed:
            return False
        if not self._fits(self.full & ~covered, q):
            self.failed.add(key)
            return False
        for mask, links, inside, i in self._branch(covered, used, q):
            self.chosen.append(i)
            if self._dfs(covered | mask, used | links, q - (not inside)):
                return True
            self.chosen.pop()
            if self.nodes > self.max_nodes:
                return False
        self.failed.add(key)
        return False

    def _branch(self, covered, used, q) -> list:
        """Options of the uncovered item with the fewest (fail first), best first."""
        best = None
        for a in self.scan:
            if covered >> a & 1:
                continue
            limit = len(best) if best is not None else math.inf
            found = []
            for opt in self.options[a]:
                if opt[0] & covered or opt[1] & used or (q == 0 and not opt[2]):
                    continue
                found.append(opt)
                if len(found) >= limit:
                    break
            else:
                best = found
                if len(found) <= 1:
                    break
        return best or []

    def _fits(self, rest: int, q: int) -> bool:
        """Every cluster of uncovered items has a weight some number of in-band groups can hold.

        At most ``q`` clusters may fail (each can take a group outside the band).
        """
        bad = 0
        while rest:
            seen = frontier = rest & -rest
            while frontier:
                reach = 0
                for a in _bits(frontier):
                    reach |= self.near[a]
                frontier = reach & rest & ~seen
                seen |= frontier
            rest &= ~seen
            total = sum(self.w[a] for a in _bits(seen))
            if math.ceil(total / self.hi - 1e-9) > math.floor(total / self.lo + 1e-9):
                bad += 1
                if bad > q:
                    return False
        return True


def _mask(members) -> int:
    out = 0
    for a in members:
        out |= 1 << int(a)
    return out


def _bits(x: int):
    while x:
        low = x & -x
        yield low.bit_length() - 1
        x ^= low

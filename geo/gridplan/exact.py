"""Exact answer to "can these buildings be split into contiguous grids inside the band?".

A plan puts every atom (building, or buildings at one point) of a connected
region into one grid, each grid connected in the atom graph. Atoms without
households (shops, schools: *link* atoms) weigh nothing: they can join any
neighbouring grid, and they are what joins the towers of a grid when the towers
do not touch. So a split into grids inside the band exists exactly when there
are disjoint connected atom sets, each holding households inside the band,
that together hold every household-holding atom: the link atoms left over then
join a neighbouring set.

The search is exact, and small by construction:

1. link atoms with at most two neighbours are taken out of the graph (a leaf
   joins its neighbour; one between ``a`` and ``b`` becomes an edge ``a–b``),
   which changes no answer;
2. every connected set whose households lie in the band and none of whose link
   atoms could be dropped (a *minimal* set) is enumerated;
3. a set partitioning over them (each household-holding atom exactly once, each
   link atom at most once) is solved as a MILP by HiGHS: infeasible is a proof
   that no plan fits the band, a solution is a plan that does;
4. when sets needing more link atoms than the cap were cut (infeasible but not
   proved), every group of towers in the band is joined by shortest routes
   through link atoms (one candidate from each of its towers) and the set
   partitioning is solved again over these too: a solution is a plan (checked
   connected and in the band before it is claimed), no solution proves nothing.

Enumeration and MILP have budgets counted in sets, steps and branch-and-bound
nodes, not seconds (equal input, equal answer); when one is exhausted the
answer is ``"undecided"``, never a false claim.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections import deque
from contextlib import contextmanager

import numpy as np
from scipy import sparse
from scipy.optimize import LinearConstraint, milp

from geo.gridplan.cutpoints import needed_links

FEASIBLE, INFEASIBLE, UNDECIDED = "feasible", "infeasible", "undecided"


class ConnectedGrouping:
    """Decide (and, when possible, build) a contiguous split of atoms into the band.

    Parameters
    ----------
    target, lo, hi : float
        Target and band of the households of a part.
    max_sets : int
        Candidate sets enumerated before giving up (``"undecided"``).
    link_caps : tuple of int
        Link atoms one candidate set may hold, tried in turn (the first cap
        that finds a split ends the search); a set that would need more than
        the last cap makes the answer ``"undecided"`` unless a split is found.
    node_limit : int
        Branch-and-bound nodes of the MILP.
    max_steps : int
        Sets looked at (grown or tested) over the whole search, a deterministic
        budget on its time: past it the answer is ``"undecided"``.
    max_relaxation_columns : int
        Widest relaxation (``"shared_links"``) solved in integers; a wider one
        proves infeasibility only when its linear relaxation is already infeasible.
    relaxation : bool
        Whether to try the relaxation's proof first (off when a caller already did).
    route_steps : int
        Budget (steps, as ``max_steps``) of the last resort when the capped
        enumeration neither solves nor proves: every tower group joined by
        shortest routes through link atoms, however many (0: skip it).
    route_nodes : int
        Branch-and-bound nodes of that last resort's MILP (it can only find a
        split, never prove there is none, so it is not worth a long search).

    Attributes
    ----------
    status_ : str
        ``"feasible"``, ``"infeasible"`` (proved) or ``"undecided"``.
    proof_ : str or None
        How infeasibility was shown: ``"shared_links"`` (no grouping even if
        link atoms could serve several grids) or ``"exhaustive"`` (every
        minimal connected set enumerated).
    labels_ : ndarray of int or None
        Part of every atom (0..k-1) when feasible, each part connected and inside the band.
    sets_ : int
        Candidate sets enumerated.
    steps_ : int
        Sets looked at (the budget spent).

    Examples
    --------
    Two towers of 200 and two of 100 on a path 200–200–100–100: the pairs
    (200, 100) would fit, but only contiguous neighbours can share a grid.

    >>> from scipy import sparse
    >>> path = sparse.diags([np.ones(3), np.ones(3)], [-1, 1]).tocsr()
    >>> ConnectedGrouping(300, 255, 345).fit(np.array([200., 200, 100, 100]), path).status_
    'infeasible'
    >>> ConnectedGrouping(300, 255, 345).fit(np.array([200., 100, 200, 100]), path).labels_.tolist()
    [0, 0, 1, 1]
    """

    def __init__(
        self,
        target: float,
        lo: float,
        hi: float,
        max_sets: int = 20_000,
        link_caps: tuple[int, ...] = (2, 4),
        node_limit: int = 5_000,
        max_steps: int = 10**9,
        max_relaxation_columns: int = 2_000,
        relaxation: bool = True,
        route_steps: int = 100_000,
        route_nodes: int = 20,
    ):
        self.target, self.lo, self.hi = float(target), float(lo), float(hi)
        self.max_sets = max_sets
        self.link_caps = link_caps
        self.node_limit = node_limit
        self.max_steps = max_steps
        self.max_relaxation_columns = max_relaxation_columns
        self.relaxation = relaxation
        self.route_steps = route_steps
        self.route_nodes = route_nodes

    def fit(self, w, adj) -> ConnectedGrouping:
        """Decide for atoms of weights ``w`` on the symmetric ``adj`` (one connected component)."""
        w = np.asarray(w, dtype=float)
        self.status_, self.labels_, self.sets_, self.proof_ = UNDECIDED, None, 0, None
        self.steps_ = 0
        n = len(w)
        heavy = w > 0
        if not heavy.any():
            self.status_ = INFEASIBLE if self.lo > 0 else FEASIBLE
            return self
        if w.max() > self.hi + 1e-9:
            self.status_ = INFEASIBLE
            return self
        nbrs = neighbours(sparse.csr_array(adj), n)
        if self.relaxation and self._shared_links_fail(nbrs, w, heavy):
            self.status_, self.proof_ = INFEASIBLE, "shared_links"
            return self
        graph = [set(around) for around in nbrs]  # as given: the reduction edits nbrs
        kept, removed = _reduce(nbrs, heavy)
        chosen, sets = None, []
        for cap in self.link_caps:
            sets, complete = self._enumerate(nbrs, kept, w, heavy, cap)
            if sets is None:
                return self
            self.sets_ += len(sets)
            chosen, status = self._solve(sets, kept, w, heavy)
            if chosen is not None:
                break
            if status == INFEASIBLE and complete:
                self.status_, self.proof_ = INFEASIBLE, "exhaustive"
                return self
            if status != INFEASIBLE:
                return self
        if chosen is None and self.link_caps and self.route_steps:
            chosen = self._route_towers(nbrs, kept, w, heavy, sets)
        if chosen is None:
            return self
        labels = self._labels(chosen, nbrs, kept, removed, n)
        if not plan_fits(labels, w, graph, self.lo, self.hi):  # a plan is claimed only when checked
            return self
        self.labels_, self.status_ = labels, FEASIBLE
        return self

    def _labels(self, chosen, nbrs, kept, removed, n) -> np.ndarray:
        """Part of every atom from the chosen sets (left-over and removed link atoms joined)."""
        labels = np.full(n, -1, dtype=np.int64)
        for k, s in enumerate(chosen):
            labels[list(s)] = k
        _grow(nbrs, kept, labels)
        for z, around in reversed(removed):  # taken out last, put back first
            labels[z] = labels[around[0]] if around else 0
        return labels

    def _route_towers(self, nbrs, kept, w, heavy, exact_sets):
        """A split whose sets join their towers by shortest routes, or None (nothing proved).

        The capped enumeration misses sets needing more link atoms than its cap.
        Every group of towers with households in the band that link atoms can
        join (as in :meth:`_shared_links_fail`) gets more candidates: its
        towers joined by the shortest routes through link atoms from each of
        them in turn. Any solution of the set partitioning over these and the
        enumerated sets is a plan; infeasibility proves nothing.
        """
        limit = self.steps_ + self.route_steps
        groups = self._tower_groups(nbrs, w, heavy, set(kept), limit)
        if groups is None:
            return None
        trees, looked = _link_trees(nbrs, heavy)
        self.steps_ += looked
        routed = set()
        for group in groups:
            for root in sorted(group):
                route = _route(trees, group, root)
                if route is not None:
                    routed.add(route)
            self.steps_ += 1
            if self.steps_ > limit:
                return None
        routed -= set(exact_sets)
        self.sets_ += len(routed)
        sets = [*exact_sets, *sorted(routed, key=sorted)]
        chosen, _ = self._solve(sets, kept, w, heavy, node_limit=self.route_nodes, balance=False)
        return chosen

    def _shared_links_fail(self, nbrs, w, heavy) -> bool:
        """True when no split fits even if link atoms could serve several parts.

        A relaxation: groups of household-holding atoms connected through any
        link atoms (two towers are neighbours when they touch or touch one
        connected patch of link atoms), where only the link atoms a group cannot
        do without (every path joining its towers passes them) are its own. No
        partition of the towers into such groups inside the band, those link
        atoms used once at most, proves that no plan fits.
        """
        sets = self._tower_groups(nbrs, w, heavy)
        if sets is None:
            return False
        self.sets_ = len(sets)
        links = [frozenset(lk) for lk in NeededLinks(nbrs, heavy).many(sets)]
        cols = [t | lk for t, lk in zip(sets, links, strict=True)]
        needed = sorted(set().union(*links)) if links else []
        towers = [int(v) for v in np.flatnonzero(heavy)]
        _, status = self._solve(cols, towers + needed, w, heavy, feasibility=True)
        return status == INFEASIBLE

    def _tower_groups(self, nbrs, w, heavy, alive=None, limit=None) -> list[frozenset] | None:
        """Connected groups of towers with households in the band, or None past the budget.

        Two towers are neighbours when they touch or touch one connected patch
        of link atoms (of ``alive`` ones, all by default). ``limit`` is the
        step count past which the search gives up (``max_steps`` by default).
        """
        limit = self.max_steps if limit is None else limit
        n = len(w)
        alive = range(n) if alive is None else alive
        towers = np.flatnonzero(heavy).tolist()
        free = np.flatnonzero(~heavy).tolist()
        w, heavy = np.asarray(w, dtype=float).tolist(), heavy.tolist()  # read atom by atom
        near = [set(u for u in nbrs[v] if heavy[u]) for v in range(n)]
        seen = [False] * n
        for z in free:
            if seen[z] or z not in alive:
                continue
            patch, touch, queue = [], set(), [z]
            seen[z] = True
            while queue:
                x = queue.pop()
                patch.append(x)
                for u in nbrs[x]:
                    if heavy[u]:
                        touch.add(u)
                    elif not seen[u]:
                        seen[u] = True
                        queue.append(u)
            for a in touch:
                near[a] |= touch - {a}
        adj = {v: sorted(near[v]) for v in towers}
        sets = []
        for v in towers:
            stack = [((v,), frozenset(u for u in adj[v] if u > v), w[v])]
            while stack:
                sub, ext, total = stack.pop()
                self.steps_ += 1
                if self.steps_ > limit:
                    return None
                if total >= self.lo - 1e-9:
                    sets.append(frozenset(sub))
                    if len(sets) > self.max_sets:
                        return None
                ext = set(ext)
                while ext:
                    u = ext.pop()
                    t = total + w[u]
                    if t > self.hi + 1e-9:
                        continue
                    around = set(sub)
                    for s in sub:
                        around.update(adj[s])
                    more = ext | {x for x in adj[u] if x > v and x not in around}
                    stack.append(((*sub, u), frozenset(more), t))
        return sets

    def _enumerate(self, nbrs, kept, w, heavy, max_links):
        """Minimal connected sets of ``kept`` atoms with households in the band.

        Returns ``(sets, complete)``; ``sets`` is None past ``max_sets``;
        ``complete`` is False when a set was cut short by ``max_links``.
        """
        alive = set(kept)
        adj = {v: sorted(u for u in nbrs[v] if u in alive) for v in kept}
        out: list[frozenset] = []
        complete = True
        for v in sorted(kept):
            start_links = 0 if heavy[v] else 1
            stack = [((v,), frozenset(u for u in adj[v] if u > v), w[v], start_links)]
            while stack:
                sub, ext, total, links = stack.pop()
                self.steps_ += 1
                if self.steps_ > self.max_steps:
                    return None, False
                if total >= self.lo - 1e-9 and _minimal(sub, adj, heavy):
                    out.append(frozenset(sub))
                    if len(out) > self.max_sets:
                        return None, False
                ext = set(ext)
                while ext:
                    u = ext.pop()
                    t = total + w[u]
                    lk = links + (not heavy[u])
                    if t > self.hi + 1e-9:
                        continue
                    if lk > max_links:
                        complete = False
                        continue
                    near = set(sub)
                    for s in sub:
                        near.update(adj[s])
                    more = ext | {x for x in adj[u] if x > v and x not in near}
                    stack.append(((*sub, u), frozenset(more), t, lk))
        return out, complete

    def _solve(self, sets, kept, w, heavy, feasibility=False, node_limit=None, balance=True):
        """Chosen sets (a partition of the household-holding atoms) and the status.

        With ``feasibility`` only the status is wanted: no objective, so the
        first integer solution ends the search. Without ``balance`` the first
        split found is taken too (the caller balances it).
        """
        if not sets:
            return None, INFEASIBLE
        cons = self._partitioning(sets, kept, heavy)
        m = len(sets)
        sums = np.array([sum(w[v] for v in s) for s in sets])
        cost = (sums - self.target) ** 2 / self.target + 1.0  # fewer, balanced parts
        if feasibility or not balance:
            cost = np.zeros(m)
        if feasibility:
            lp = milp(cost, constraints=cons, integrality=np.zeros(m), bounds=(0, 1))
            if lp.status == 2:  # not even fractionally: no integer answer either
                return None, INFEASIBLE
            if m > self.max_relaxation_columns:  # an integer search this wide runs for seconds
                return None, UNDECIDED
        with _without_highs_debug_line():
            res = milp(
                cost,
                constraints=cons,
                integrality=np.ones(m),
                bounds=(0, 1),
                # these set partitionings are small enough to solve without presolve, which
                # makes the debug line below rarer
                options={"node_limit": node_limit or self.node_limit, "presolve": False},
            )
        if res.status == 2:
            return None, INFEASIBLE
        if res.x is None:
            return None, UNDECIDED
        return [sets[j] for j in np.flatnonzero(res.x > 0.5)], FEASIBLE

    @staticmethod
    def _partitioning(sets, kept, heavy) -> list[LinearConstraint]:
        """Each household-holding atom of ``kept`` in one set exactly, each link atom at most."""
        rows_h = {v: i for i, v in enumerate(v for v in sorted(kept) if heavy[v])}
        rows_z = {v: i for i, v in enumerate(v for v in sorted(kept) if not heavy[v])}
        hr, hc, zr, zc = [], [], [], []
        for j, s in enumerate(sets):
            for v in s:
                if heavy[v]:
                    hr.append(rows_h[v])
                    hc.append(j)
                else:
                    zr.append(rows_z[v])
                    zc.append(j)
        m = len(sets)
        cons = [
            LinearConstraint(
                sparse.csr_array((np.ones(len(hr)), (hr, hc)), shape=(len(rows_h), m)), 1, 1
            )
        ]
        if rows_z:
            cons.append(
                LinearConstraint(
                    sparse.csr_array((np.ones(len(zr)), (zr, zc)), shape=(len(rows_z), m)), 0, 1
                )
            )
        return cons


_HIGHS_DEBUG = re.compile(rb"HighsMipSolverData::\w+ tmpSolver\.run\(\);\n?")
_STDOUT = threading.Lock()


@contextmanager
def _without_highs_debug_line():
    """Keep HiGHS's stray debug line off the process's standard output.

    The MIP solver bundled with SciPy prints
    ``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();`` with a
    bare ``printf`` when it maps a solution back, even with output off: into a
    CLI's JSON, say. File descriptor 1 goes to a temporary file while the solver
    runs (one solver at a time); what else was written there meanwhile is passed on.
    """
    with _STDOUT, tempfile.TemporaryFile() as caught:
        try:
            sys.stdout.flush()
            saved = os.dup(1)
        except (AttributeError, OSError, ValueError):  # no standard output to keep clean
            yield
            return
        os.dup2(caught.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            caught.seek(0)
            rest = _HIGHS_DEBUG.sub(b"", caught.read())
            if rest:
                os.write(1, rest)


def neighbours(adj: sparse.csr_array, n: int) -> list[set[int]]:
    """Each atom's neighbours in the symmetric ``adj`` (itself left out)."""
    return [set(adj.indices[adj.indptr[v] : adj.indptr[v + 1]].tolist()) - {v} for v in range(n)]


def _reduce(nbrs: list[set[int]], heavy: np.ndarray):
    """Take link atoms of degree ≤ 2 out (in place); kept atoms and (atom, neighbours) removed."""
    alive = set(range(len(nbrs)))
    removed: list[tuple[int, list[int]]] = []
    todo = deque(v for v in range(len(nbrs)) if not heavy[v])
    while todo:
        z = todo.popleft()
        if z not in alive or heavy[z] or len(nbrs[z]) > 2 or len(alive) <= 1:
            continue
        around = sorted(nbrs[z])
        for u in around:
            nbrs[u].discard(z)
        if len(around) == 2:
            a, b = around
            nbrs[a].add(b)
            nbrs[b].add(a)
        alive.discard(z)
        removed.append((z, around))
        todo.extend(u for u in around if not heavy[u])
    return sorted(alive), removed


class NeededLinks:
    """Link atoms that every connection of a group's atoms through link atoms passes.

    The graph is taken once (in CSR form); the groups are searched by
    :func:`~geo.gridplan.cutpoints.needed_links`, many in one compiled call.
    A group its link atoms cannot join needs none (it is no group).
    """

    def __init__(self, nbrs, heavy):
        self._heavy = np.asarray(heavy, dtype=bool)
        around = [sorted(a) for a in nbrs]
        self._indptr = np.zeros(len(around) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in around], out=self._indptr[1:])
        self._indices = np.fromiter(
            (u for a in around for u in a), dtype=np.int64, count=int(self._indptr[-1])
        )

    def __call__(self, group) -> list[int]:
        """The needed link atoms of ``group`` (a set of tower atoms), sorted."""
        return self.many([group])[0]

    def many(self, groups) -> list[list[int]]:
        """:meth:`__call__` for each of ``groups``, in one call."""
        return needed_links(self._indptr, self._indices, self._heavy, groups)


def _link_trees(nbrs, heavy) -> tuple[dict, int]:
    """Shortest routes through link atoms from every tower, and the atoms looked at.

    For each tower, the predecessor of every atom a breadth-first search
    reaches from it, passing through link atoms only (a tower it reaches ends
    a route: routes never cross another tower).
    """
    trees, looked = {}, 0
    for tower in np.flatnonzero(heavy).tolist():
        came_from = {tower: None}
        queue = deque([tower])
        while queue:
            x = queue.popleft()
            looked += 1
            for u in sorted(nbrs[x]):
                if u not in came_from:
                    came_from[u] = x
                    if not heavy[u]:
                        queue.append(u)
        trees[tower] = came_from
    return trees, looked


def _route(trees, group, root) -> frozenset | None:
    """``group`` joined along the shortest routes from ``root`` (a subtree), or None."""
    came_from = trees[root]
    joined = {root}
    for tower in group:
        if tower not in came_from:
            return None
        x = tower
        while x not in joined:
            joined.add(x)
            x = came_from[x]
    return frozenset(joined)


def plan_fits(labels, w, nbrs, lo, hi) -> bool:
    """Every part connected and holding households inside ``[lo, hi]``."""
    if (labels < 0).any():
        return False
    totals = np.bincount(labels, w)
    if ((totals < lo - 1e-9) | (totals > hi + 1e-9)).any():
        return False
    return all(_joined(set(np.flatnonzero(labels == k).tolist()), nbrs) for k in range(len(totals)))


def _joined(members: set, nbrs) -> bool:
    """Whether ``members`` (not empty) are connected by the edges among them."""
    start = next(iter(members))
    seen, queue = {start}, [start]
    while queue:
        for u in nbrs[queue.pop()]:
            if u in members and u not in seen:
                seen.add(u)
                queue.append(u)
    return len(seen) == len(members)


def _minimal(sub: tuple, adj: dict, heavy) -> bool:
    """Every link atom of ``sub`` is needed to keep it connected (and ``sub`` holds households)."""
    members = set(sub)
    links = [z for z in sub if not heavy[z]]
    if len(links) == len(sub):
        return False
    for z in links:  # a link atom with one neighbour in the set can go: cheap and common
        if sum(u in members for u in adj[z]) <= 1:
            return False
    return not any(_joined(members - {z}, adj) for z in links)


def _grow(nbrs, kept, labels) -> None:
    """Give unlabelled kept atoms (link atoms no set took) to a labelled neighbour."""
    queue = deque(v for v in kept if labels[v] >= 0)
    while queue:
        v = queue.popleft()
        for u in sorted(nbrs[v]):
            if labels[u] < 0:
                labels[u] = labels[v]
                queue.append(u)

"""Exact split of a small atom graph into contiguous grids, atom by atom (a frontier search).

Atoms are taken one at a time in an order that keeps few of them *open* (taken,
with neighbours still to come: the frontier). Every way the atoms taken so far
can lie in grids is summed up by what the rest can still see of it: which grid
and which connected piece of it each open atom is in, and each open grid's
households. Two ways that agree there have the same futures, so only one is
kept. A grid is checked when its last open atom closes: one piece (connected),
households inside the band. Nothing is enumerated twice, no link-building cap
applies, and the answer is exact: feasible (with a plan) or infeasible (proved),
unless the states kept pass their budget (``"undecided"``).

Households only matter up to what the atoms still to come could add: an open
grid's households are kept as the range of those additions that would land it
in the band, so grids that differ by households no remaining subset could tell
apart count once; and of two ways that differ only by the households of grids
already inside the band, the one with no more households in each such grid has
every future of the other, so the other is dropped.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

FEASIBLE, INFEASIBLE, UNDECIDED = "feasible", "infeasible", "undecided"
STATES = 150_000  # the default budget: about 2 s of one core on the demos' tower pieces


class FrontierSplit:
    """Decide (and, when possible, build) a contiguous split of atoms into the band.

    Parameters
    ----------
    lo, hi : float
        Band of a grid's households.
    max_states : int
        States kept over the whole search, a deterministic budget on its time
        and memory: past it the answer is ``"undecided"``.

    Attributes
    ----------
    status_ : str
        ``"feasible"``, ``"infeasible"`` (every split looked at) or ``"undecided"``.
    labels_ : ndarray of int or None
        Grid of every atom (0..k-1) when feasible.
    states_ : int
        States kept (the budget spent).
    width_ : int
        Most atoms open at once in the order used.

    Examples
    --------
    Households 200, 200, 100, 100 on a path: the 200s cannot each reach a 100.

    >>> from scipy import sparse
    >>> def path(n):
    ...     return sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1]).tocsr()
    >>> FrontierSplit(255, 345).fit(np.array([200., 200, 100, 100]), path(4)).status_
    'infeasible'
    >>> FrontierSplit(255, 345).fit(np.array([200., 100, 0, 200, 100]), path(5)).labels_.tolist()
    [0, 0, 0, 1, 1]
    """

    def __init__(self, lo: float, hi: float, max_states: int = STATES):
        self.lo, self.hi = float(lo), float(hi)
        self.max_states = max_states

    def fit(self, w, adj) -> FrontierSplit:
        """Decide for atoms of households ``w`` on the symmetric ``adj`` (one component)."""
        w = np.asarray(w, dtype=float)
        adj = sparse.csr_array(adj)
        nbrs = [set(adj.indices[adj.indptr[v] : adj.indptr[v + 1]].tolist()) for v in range(len(w))]
        nbrs = [around - {v} for v, around in enumerate(nbrs)]
        self.status_, self.labels_, self.states_, self.width_ = UNDECIDED, None, 0, 0
        if not len(w):  # nothing to split
            self.status_, self.labels_ = FEASIBLE, np.zeros(0, dtype=np.int64)
            return self
        order = narrow_order(nbrs)
        steps = _Steps(w, nbrs, order, self.lo, self.hi)
        self.width_ = steps.width
        levels = self._search(steps, len(order))
        if levels is None:
            return self
        if not levels[-1]:
            self.status_ = INFEASIBLE
            return self
        self.labels_ = self._replay(steps, order, levels, len(w))
        self.status_ = FEASIBLE
        return self

    # -- the search --------------------------------------------------------------
    def _search(self, steps, n) -> list[list] | None:
        """Every level's kept states, each with the state and step it came from."""
        states = [((), (), (), None)]
        levels = []
        for i in range(n):
            kept: dict = {}
            left = self.max_states - self.states_  # a key holds one state or a few: checked often
            for j, (grids, pieces, weights, *_) in enumerate(states):
                for g in range(len(weights) + 1):
                    made = steps.take(i, grids, pieces, weights, g)
                    if made is not None:
                        _keep(kept, made[0], (*made[1:], (j, g)), steps.full_at(made[3]))
                if len(kept) > left:
                    self.states_ = self.max_states + 1
                    return None
            states = [state for same in kept.values() for state in same]
            self.states_ += len(states)
            if self.states_ > self.max_states:
                return None
            levels.append(states)
            if not states:
                break
        return levels

    def _replay(self, steps, order, levels, n) -> np.ndarray:
        """The plan of a state that reached the end, followed back and replayed forward."""
        choices = []
        j = 0
        for i in range(len(order) - 1, -1, -1):
            j, g = levels[i][j][3]
            choices.append(g)
        choices.reverse()
        labels = np.full(n, -1, dtype=np.int64)
        grids, pieces, weights, names, fresh = (), (), (), [], 0  # names: plan grids of open ones
        for i, g in enumerate(choices):
            if g == len(weights):
                names, fresh = [*names, fresh], fresh + 1
            labels[order[i]] = names[g]
            _, grids, pieces, weights, renamed = steps.take(i, grids, pieces, weights, g, True)
            names = [names[old] for old in renamed]
        return np.unique(labels, return_inverse=True)[1]


class _Steps:
    """Taking atom ``order[i]`` into a grid, from any state of the level before."""

    def __init__(self, w, nbrs, order, lo, hi):
        pos = {v: i for i, v in enumerate(order)}
        last = {v: max([pos[u] for u in nbrs[v]] + [pos[v]]) for v in order}
        self.neighbour_at, self.staying, self.leaving = [], [], []
        self.width = 0
        frontier: list[int] = []
        for i, v in enumerate(order):
            at = {x: k for k, x in enumerate(frontier)}
            self.neighbour_at.append([at[u] for u in nbrs[v] if u in at])
            both = [*frontier, v]  # positions that stay open after this step, and the others
            self.staying.append([k for k, x in enumerate(both) if last[x] > i])
            self.leaving.append([k for k, x in enumerate(both) if last[x] <= i])
            frontier = [both[k] for k in self.staying[-1]]
            self.width = max(self.width, len(frontier))
        taken = w[order]
        self.whole = bool(np.allclose(taken, np.round(taken))) and hi < 1e6
        self.w = np.round(taken).astype(int).tolist() if self.whole else taken.tolist()
        self.lo, self.hi = (lo - 1e-9, hi + 1e-9)
        self.rooms = _rooms(self.w, lo, hi) if self.whole else None

    def take(self, i, grids, pieces, weights, g, renames=False):
        """The state after atom ``order[i]`` joins open grid ``g`` (``len(weights)``: a new one).

        A state is the grid and the piece of each open atom and each open
        grid's households; None when the step breaks a grid (a piece cut off,
        households past the band). Its key replaces whole-number households by
        what the atoms still to come may add to them (see :func:`_rooms`).
        """
        weights = [*weights, 0] if g == len(weights) else [*weights]
        weights[g] += self.w[i]
        if weights[g] > self.hi:
            return None
        merged = {pieces[k] for k in self.neighbour_at[i] if grids[k] == g}
        full_p = [-1 if p in merged else p for p in pieces] if merged else [*pieces]
        full_p.append(-1)  # the atom's own piece, with the pieces of its neighbours in g
        full_g = [*grids, g]
        stay, leave = self.staying[i], self.leaving[i]
        if leave:
            open_pieces = {full_p[k] for k in stay}
            open_grids = {full_g[k] for k in stay}
            for k in leave:
                p, gk = full_p[k], full_g[k]
                if p in open_pieces:
                    continue
                if gk in open_grids:  # a piece no atom to come can join to the rest of its grid
                    return None
                if any(full_g[j] == gk and full_p[j] != p for j in leave):  # closes in pieces
                    return None
                if not self.lo <= weights[gk] <= self.hi:
                    return None
        gmap: dict = {}
        pmap: dict = {}
        new_g = tuple(gmap.setdefault(full_g[k], len(gmap)) for k in stay)
        new_p = tuple(pmap.setdefault(full_p[k], len(pmap)) for k in stay)
        renamed = list(gmap)
        new_w = tuple(weights[old] for old in renamed)
        if self.whole:
            room = self.rooms[i]
            key_w = tuple(_FULL if x >= self.lo else room[x] for x in new_w)
            if None in key_w:  # no addition still possible lands it in the band
                return None
        else:
            key_w = tuple(_FULL if x >= self.lo else x for x in new_w)
        key = (new_g, new_p, key_w)
        if renames:
            return key, new_g, new_p, new_w, renamed
        return key, new_g, new_p, new_w


    def full_at(self, weights) -> tuple:
        """Households of the grids already inside the band (fewer leave more room)."""
        return tuple(x for x in weights if x >= self.lo)


_FULL = "in band"  # a grid's key once its households are in the band: see _keep


def _keep(kept: dict, key, state, full) -> None:
    """Add ``state`` under ``key`` unless one kept there leaves as much room or more.

    States of one key differ only by the households of their grids already in
    the band; one whose every such grid holds no more than another's has every
    future the other has. Kept states carry their ``full`` households last.
    """
    same = kept.setdefault(key, [])
    for other in same:
        if all(a <= b for a, b in zip(other[-1], full, strict=True)):
            return
    same[:] = [o for o in same if not all(a <= b for a, b in zip(full, o[-1], strict=True))]
    same.append((*state, full))


def _rooms(w, lo, hi) -> list[list]:
    """For each step and whole households up to ``hi``: the additions that land them in the band.

    The additions still possible after step ``i`` are the subset sums (up to
    ``hi``) of the households of the atoms still to come; households are
    replaced by the (first, past-last) indices of those sums that would land
    them in ``[lo, hi]`` — two households with equal ranges have the same futures
    — or None when no sum would.
    """
    top = int(np.floor(hi + 1e-9))
    x = np.arange(top + 1, dtype=float)
    sums = np.zeros(top + 1, dtype=bool)
    sums[0] = True
    rooms: list[list] = [[] for _ in w]
    for i in range(len(w) - 1, -1, -1):
        possible = np.flatnonzero(sums).astype(float)
        first = np.searchsorted(possible, lo - x - 1e-9)
        past = np.searchsorted(possible, hi - x + 1e-9, side="right")
        rooms[i] = [(int(a), int(b)) if a < b else None for a, b in zip(first, past, strict=True)]
        if 0 < w[i] <= top:
            sums[w[i] :] = sums[w[i] :] | sums[: -w[i]]
    return rooms


def narrow_order(nbrs, start=None) -> list[int]:
    """An order of the atoms that keeps few open at once (greedy, from a far atom).

    Starts at one end of a long shortest path and takes next the atom, among
    those next to the open ones, that leaves the fewest open (then the one
    with the most neighbours taken, then the lowest number).
    """
    n = len(nbrs)
    if n == 0:
        return []

    def farthest(s):
        dist = {s: 0}
        queue = [s]
        for x in queue:
            for u in sorted(nbrs[x]):
                if u not in dist:
                    dist[u] = dist[x] + 1
                    queue.append(u)
        return max(dist, key=lambda v: (dist[v], -v))

    start = farthest(farthest(0)) if start is None else start
    left = [len(nbrs[v]) for v in range(n)]  # neighbours not yet taken
    taken = np.zeros(n, dtype=bool)
    order, open_ = [], set()
    near = {start}

    def cost(v, open_):
        closes = sum(1 for x in nbrs[v] if x in open_ and left[x] == 1)
        stays = left[v] > 0
        return (len(open_) - closes + stays, -sum(1 for x in nbrs[v] if taken[x]), v)

    while len(order) < n:
        v = min(near, key=lambda u: cost(u, open_))  # noqa: B023 (used at once)
        taken[v] = True
        order.append(v)
        for x in nbrs[v]:
            left[x] -= 1
        open_ = {x for x in open_ | {v} if left[x] > 0}
        near = {u for x in open_ for u in nbrs[x] if not taken[u]}
        if not near and len(order) < n:
            near = {int(np.flatnonzero(~taken)[0])}
    return order

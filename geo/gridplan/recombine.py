"""Repair of parts outside the band by recombination of two neighbouring parts.

A part that single-atom moves cannot fix (e.g. two towers of 144 and 220
households) is merged with a neighbour and the union is cut again along an edge
of a random spanning tree (the ReCom step), choosing the cut whose halves fit
the band best. Both halves are connected by construction. Seeded, so
deterministic.
"""

from __future__ import annotations

import heapq
from collections import deque

import numpy as np
from scipy import sparse


def band_cost(x: np.ndarray | float, target: float, lo: float, hi: float) -> np.ndarray:
    """``1000·(band violation + outside penalty) + (x − target)² / target`` (vectorised).

    A part outside the band pays half the band's width on top of its violation, so
    of two repairs with the same total violation the one with fewer parts outside wins.
    """
    x = np.asarray(x, dtype=float)
    viol = np.maximum(0.0, x - hi) + np.maximum(0.0, lo - x)
    return 1000.0 * (viol + outside_penalty(lo, hi) * (viol > 0)) + (x - target) ** 2 / target


def outside_penalty(lo: float, hi: float) -> float:
    """Households of violation a part outside the band counts for (half the band's width)."""
    return (hi - lo) / 2


def best_split(w: np.ndarray, adj: sparse.csr_array, target, lo, hi, rng, trees: int = 24):
    """Best two-way cut of a connected graph over ``trees`` random spanning trees.

    Returns
    -------
    (cost, side) : (float, ndarray of bool) or (inf, None)
        ``side`` is True for the atoms of the first half.
    """
    n = len(w)
    if n < 2:
        return np.inf, None
    nbrs = [adj.indices[adj.indptr[v] : adj.indptr[v + 1]].tolist() for v in range(n)]
    total = float(w.sum())
    best_cost, best_side = np.inf, None
    for _ in range(trees):
        if rng.left <= 0:
            break
        order, parent = _random_tree(nbrs, rng)
        if len(order) < n:
            return np.inf, None
        sub = w.astype(float)
        for v in order[:0:-1]:
            sub[parent[v]] += sub[v]
        cand = np.asarray(order[1:])
        costs = band_cost(sub[cand], target, lo, hi) + band_cost(total - sub[cand], target, lo, hi)
        i = int(np.argmin(costs))
        if costs[i] < best_cost:
            best_cost = float(costs[i])
            best_side = _subtree(order, parent, int(cand[i]), n)
    return best_cost, best_side


class Sampler:
    """A seeded generator with a budget of spanning trees (bounds the repair time).

    Parameters
    ----------
    seed : int
    budget : int
        Spanning trees that may still be drawn.
    """

    def __init__(self, seed: int, budget: int):
        self._rng = np.random.default_rng(seed)
        self.left = budget

    def random(self, n: int) -> np.ndarray:
        """``n`` uniform numbers."""
        return self._rng.random(n)


def _random_tree(nbrs: list[list[int]], rng: Sampler) -> tuple[list[int], list[int]]:
    """A spanning tree by Prim's algorithm on random edge weights: visit order, parents."""
    rng.left -= 1
    n = len(nbrs)
    parent = [-1] * n
    seen = [False] * n
    seen[0] = True
    order = [0]
    keys = rng.random(sum(len(x) for x in nbrs)).tolist()
    heap = [(keys.pop(), 0, u) for u in nbrs[0]]
    heapq.heapify(heap)
    while heap:
        _, p, v = heapq.heappop(heap)
        if seen[v]:
            continue
        seen[v] = True
        parent[v] = p
        order.append(v)
        for u in nbrs[v]:
            if not seen[u]:
                heapq.heappush(heap, (keys.pop() if keys else 0.5, v, u))
    return order, parent


def _subtree(order, parent, root, n) -> np.ndarray:
    side = np.zeros(n, dtype=bool)
    side[root] = True
    for v in order:
        if v != root and parent[v] >= 0 and side[parent[v]]:
            side[v] = True
    return side


def recombine(
    labels: np.ndarray,
    w: np.ndarray,
    adj: sparse.csr_array,
    target,
    lo,
    hi,
    seed: int = 0,
    rounds: int = 6,
    budget: int = 1500,
) -> np.ndarray:
    """Recombine each part outside the band with its neighbours while that helps.

    At most ``budget`` spanning trees in all).
    """
    labels = labels.copy()
    rng = Sampler(seed, budget)
    coo = adj.tocoo()
    for _ in range(rounds):
        pw = np.bincount(labels, w, minlength=labels.max() + 1)
        bad = np.flatnonzero((pw < lo) | (pw > hi))
        if len(bad) == 0:
            break
        improved = False
        for a in bad:
            if rng.left <= 0:
                return labels
            if not _fix_part(labels, w, adj, coo, int(a), target, lo, hi, rng):
                improved |= _fix_part3(labels, w, adj, coo, int(a), target, lo, hi, rng)
            else:
                improved = True
        if not improved:
            break
    return labels


def _neighbours(labels, coo, parts) -> np.ndarray:
    inside = np.isin(labels[coo.row], parts) & ~np.isin(labels[coo.col], parts)
    return np.unique(labels[coo.col[inside]])


def best_split3(w, adj, target, lo, hi, rng, trees: int = 12):
    """Best three-way cut: one subtree of a random spanning tree, the rest cut in two."""
    n = len(w)
    nbrs = [adj.indices[adj.indptr[v] : adj.indptr[v + 1]].tolist() for v in range(n)]
    total = float(w.sum())
    best = (np.inf, None)
    for _ in range(trees):
        if rng.left <= 0:
            break
        order, parent = _random_tree(nbrs, rng)
        if len(order) < n:
            return best
        sub = w.astype(float)
        for v in order[:0:-1]:
            sub[parent[v]] += sub[v]
        cand = np.asarray(order[1:])
        approx = band_cost(sub[cand], target, lo, hi) + 2 * band_cost(
            (total - sub[cand]) / 2, target, lo, hi
        )
        root = int(cand[int(np.argmin(approx))])
        piece = _subtree(order, parent, root, n)
        rest = np.flatnonzero(~piece)
        cost2, side = best_split(w[rest], adj[rest][:, rest], target, lo, hi, rng, trees=8)
        cost = float(band_cost(w[piece].sum(), target, lo, hi)) + cost2
        if side is not None and cost < best[0]:
            lab = np.zeros(n, dtype=np.int64)
            lab[rest[side]] = 1
            lab[rest[~side]] = 2
            best = (cost, lab)
    return best


MAX_SEEDED = {2: 14, 3: 9}


def seeded_split(w, adj, k, target, lo, hi, candidates: int = 40):
    """Exact weights, heuristic shape: split a small union into ``k`` parts.

    Every assignment of the atoms that hold households to ``k`` groups is
    scored (enumerated, so only for a few such atoms); for the best ones the
    household-free atoms are grown around the groups by breadth-first search
    and the first assignment whose groups are all connected wins.

    Returns
    -------
    (cost, labels) : (float, ndarray) or (inf, None)
    """
    nz = np.flatnonzero(w > 0)
    m = len(nz)
    if m < k or m > MAX_SEEDED.get(k, 0):
        return np.inf, None
    grid = np.indices((k,) * (m - 1)).reshape(m - 1, -1).T  # first atom fixed in group 0
    assign = np.column_stack([np.zeros(len(grid), dtype=np.int64), grid])
    sums = np.stack([((assign == g) * w[nz]).sum(axis=1) for g in range(k)], axis=1)
    cost = band_cost(sums, target, lo, hi).sum(axis=1)
    nbrs = [adj.indices[adj.indptr[v] : adj.indptr[v + 1]].tolist() for v in range(len(w))]
    for i in np.argsort(cost, kind="stable")[:candidates]:
        labels = _grow(nbrs, nz, assign[i], len(w))
        if labels is not None and all(_connected(nbrs, labels, g) for g in range(k)):
            return float(cost[i]), labels
    return np.inf, None


def _grow(nbrs, seeds, groups, n) -> np.ndarray | None:
    labels = np.full(n, -1, dtype=np.int64)
    labels[seeds] = groups
    queue = deque(int(s) for s in seeds)
    while queue:
        v = queue.popleft()
        for u in nbrs[v]:
            if labels[u] < 0:
                labels[u] = labels[v]
                queue.append(u)
    return None if (labels < 0).any() else labels


def _connected(nbrs, labels, g) -> bool:
    members = np.flatnonzero(labels == g)
    if len(members) == 0:
        return False
    seen = {int(members[0])}
    queue = deque(seen)
    while queue:
        v = queue.popleft()
        for u in nbrs[v]:
            if u not in seen and labels[u] == g:
                seen.add(u)
                queue.append(u)
    return len(seen) == len(members)


def _fix_part3(labels, w, adj, coo, a, target, lo, hi, rng) -> bool:
    """Recombine ``a`` with two neighbouring parts and cut the union in three."""
    pw = np.bincount(labels, w, minlength=labels.max() + 1)
    for b in _neighbours(labels, coo, [a]):
        for c in _neighbours(labels, coo, [a, b]):
            trio = [a, int(b), int(c)]
            nodes = np.flatnonzero(np.isin(labels, trio))
            now = float(band_cost(pw[trio], target, lo, hi).sum())
            sub = adj[nodes][:, nodes]
            cost, lab = seeded_split(w[nodes], sub, 3, target, lo, hi)
            if lab is None:
                cost, lab = best_split3(w[nodes], sub, target, lo, hi, rng)
            if lab is not None and cost < now - 1e-9:
                labels[nodes] = np.asarray(trio)[lab]
                return True
    return False


def _fix_part(labels, w, adj, coo, a, target, lo, hi, rng) -> bool:
    pw = np.bincount(labels, w, minlength=labels.max() + 1)
    if lo <= pw[a] <= hi:
        return False
    touching = (labels[coo.row] == a) & (labels[coo.col] != a)
    neighbours = np.unique(labels[coo.col[touching]])
    for b in sorted(neighbours, key=lambda b: abs(pw[a] + pw[b] - 2 * target)):
        nodes = np.flatnonzero((labels == a) | (labels == b))
        now = float(band_cost(pw[a], target, lo, hi) + band_cost(pw[b], target, lo, hi))
        sub = adj[nodes][:, nodes]
        cost, lab = seeded_split(w[nodes], sub, 2, target, lo, hi)
        side = lab == 0 if lab is not None else None
        if side is None or cost >= now - 1e-9:
            cost, side = best_split(w[nodes], sub, target, lo, hi, rng)
        if side is not None and cost < now - 1e-9:
            labels[nodes[side]] = a
            labels[nodes[~side]] = b
            return True
    return False

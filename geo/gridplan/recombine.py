"""Repair of parts outside the band by recombination of two neighbouring parts.

A part that single-atom moves cannot fix (e.g. two towers of 144 and 220
households) is merged with a neighbour and the union is cut again along an edge
of a random spanning tree (the ReCom step), choosing the cut whose halves fit
the band best. Both halves are connected by construction. Seeded, so
deterministic.
"""

from __future__ import annotations

import heapq

import numpy as np
from scipy import sparse


def band_cost(x: np.ndarray | float, target: float, lo: float, hi: float) -> np.ndarray:
    """``1000·(band violation) + (x − target)² / target`` (vectorised)."""
    x = np.asarray(x, dtype=float)
    viol = np.maximum(0.0, x - hi) + np.maximum(0.0, lo - x)
    return 1000.0 * viol + (x - target) ** 2 / target


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
    nbrs = [adj.indices[adj.indptr[v]:adj.indptr[v + 1]].tolist() for v in range(n)]
    total = float(w.sum())
    best_cost, best_side = np.inf, None
    for _ in range(trees):
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


def _random_tree(nbrs: list[list[int]], rng) -> tuple[list[int], list[int]]:
    """A spanning tree by Prim's algorithm on random edge weights: visit order, parents."""
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


def recombine(labels: np.ndarray, w: np.ndarray, adj: sparse.csr_array, target, lo, hi,
              seed: int = 0, rounds: int = 6) -> np.ndarray:
    """Recombine each part outside the band with its neighbours while that helps."""
    labels = labels.copy()
    rng = np.random.default_rng(seed)
    coo = adj.tocoo()
    for _ in range(rounds):
        pw = np.bincount(labels, w, minlength=labels.max() + 1)
        bad = np.flatnonzero((pw < lo) | (pw > hi))
        if len(bad) == 0:
            break
        improved = False
        for a in bad:
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
    nbrs = [adj.indices[adj.indptr[v]:adj.indptr[v + 1]].tolist() for v in range(n)]
    total = float(w.sum())
    best = (np.inf, None)
    for _ in range(trees):
        order, parent = _random_tree(nbrs, rng)
        if len(order) < n:
            return best
        sub = w.astype(float)
        for v in order[:0:-1]:
            sub[parent[v]] += sub[v]
        cand = np.asarray(order[1:])
        approx = band_cost(sub[cand], target, lo, hi) + 2 * band_cost((total - sub[cand]) / 2,
                                                                      target, lo, hi)
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


def _fix_part3(labels, w, adj, coo, a, target, lo, hi, rng) -> bool:
    """Recombine ``a`` with two neighbouring parts and cut the union in three."""
    pw = np.bincount(labels, w, minlength=labels.max() + 1)
    for b in _neighbours(labels, coo, [a]):
        for c in _neighbours(labels, coo, [a, b]):
            trio = [a, int(b), int(c)]
            nodes = np.flatnonzero(np.isin(labels, trio))
            now = float(band_cost(pw[trio], target, lo, hi).sum())
            cost, lab = best_split3(w[nodes], adj[nodes][:, nodes], target, lo, hi, rng)
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
        cost, side = best_split(w[nodes], adj[nodes][:, nodes], target, lo, hi, rng)
        if side is not None and cost < now - 1e-9:
            labels[nodes[side]] = a
            labels[nodes[~side]] = b
            return True
    return False

"""Repair of parts outside the band by recombination of neighbouring parts.

A part that single-atom moves cannot fix (e.g. two towers of 144 and 220
households) is merged with a neighbour and the union is cut again along an edge
of a random spanning tree (the ReCom step), choosing the cut whose halves fit
the band best; when no pair helps, the part and two neighbours are cut in three.
Both halves are connected by construction. Small unions are also split exactly
by enumerating the buildings that hold households. Seeded, so deterministic.

The graph is handled as neighbour lists (``nbrs[v]`` = atoms next to ``v``):
the unions are small, and lists are cheaper to cut out than sparse matrices.
"""

from __future__ import annotations

import itertools

import numpy as np
from numba import njit, vectorize
from scipy import sparse

from geo.gridplan.growth import grow_labels, pieces_per_label
from geo.gridplan.spanning import spanning_forest

BIG = 1000.0  # households of band violation weigh this much more than a square deviation


def band_cost(x: np.ndarray | float, target: float, lo: float, hi: float) -> np.ndarray:
    """``BIG·(band violation + outside penalty) + (x − target)² / target`` (vectorised).

    A part outside the band pays half the band's width on top of its violation, so
    of two repairs with the same total violation the one with fewer parts outside wins.
    """
    return _band_cost(x, float(target), float(lo), float(hi), outside_penalty(lo, hi))


@njit(cache=True, nogil=True)
def part_cost(x, target, lo, hi, penalty):
    """:func:`band_cost` of one part, compiled (``penalty``: :func:`outside_penalty`)."""
    viol = max(0.0, x - hi) + max(0.0, lo - x)
    return BIG * (viol + penalty * (viol > 0)) + (x - target) ** 2 / target


@vectorize(["float64(float64, float64, float64, float64, float64)"], cache=True)
def _band_cost(x, target, lo, hi, penalty):  # one compiled loop: these arrays are small
    return part_cost(x, target, lo, hi, penalty)


def outside_penalty(lo: float, hi: float) -> float:
    """Households of violation a part outside the band counts for (half the band's width)."""
    return (hi - lo) / 2


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

    At most ``budget`` spanning trees are drawn in all.
    """
    labels = labels.copy()
    rng = Sampler(seed, budget)
    graph = _Graph(adj)
    for _ in range(rounds):
        pw = np.bincount(labels, w, minlength=labels.max() + 1)
        bad = np.flatnonzero((pw < lo) | (pw > hi))
        if len(bad) == 0:
            break
        improved = False
        for a in bad:
            if rng.left <= 0:
                return labels
            if _fix_part(labels, w, graph, int(a), target, lo, hi, rng):
                improved = True
            else:
                improved |= _fix_part3(labels, w, graph, int(a), target, lo, hi, rng)
        if not improved:
            break
    return labels


class _Graph:
    """Neighbour lists of a component, its edge list (for part adjacency) and its seeded splits.

    A union of parts comes back when a pair or trio is tried again (the trio
    a–b–c is also a–c–b); its seeded split, which depends on its atoms only,
    is then looked up instead of enumerated again.
    """

    def __init__(self, adj: sparse.csr_array):
        self.nbrs = [
            adj.indices[adj.indptr[v] : adj.indptr[v + 1]].tolist() for v in range(adj.shape[0])
        ]
        coo = adj.tocoo()
        self.row, self.col = coo.row, coo.col
        self._seeded: dict[tuple[int, bytes], tuple] = {}

    def seeded_split(self, w, nodes: np.ndarray, k: int, target, lo, hi):
        """:func:`seeded_split` of the union ``nodes`` (sorted atoms) into ``k`` parts."""
        key = (k, nodes.tobytes())
        if key not in self._seeded:
            sub = induced(self.nbrs, nodes)
            self._seeded[key] = seeded_split(w[nodes], sub, k, target, lo, hi)
        return self._seeded[key]

    def touching(self, labels, parts) -> np.ndarray:
        """Parts next to ``parts`` (not in them)."""
        inside = np.isin(labels[self.row], parts) & ~np.isin(labels[self.col], parts)
        return np.unique(labels[self.col[inside]])


def induced(nbrs: list[list[int]], nodes: np.ndarray) -> list[list[int]]:
    """Neighbour lists of the subgraph on ``nodes``, renumbered 0..len(nodes)-1."""
    pos = {v: i for i, v in enumerate(nodes.tolist())}
    return [[pos[u] for u in nbrs[v] if u in pos] for v in pos]


def _fix_part(labels, w, graph, a, target, lo, hi, rng) -> bool:
    """Recombine ``a`` with one neighbouring part (closest pair total first)."""
    pw = np.bincount(labels, w, minlength=labels.max() + 1)
    if lo <= pw[a] <= hi:
        return False
    for b in sorted(graph.touching(labels, [a]), key=lambda b: abs(pw[a] + pw[b] - 2 * target)):
        nodes = np.flatnonzero((labels == a) | (labels == b))
        now = float(band_cost(pw[[a, b]], target, lo, hi).sum())
        cost, lab = graph.seeded_split(w, nodes, 2, target, lo, hi)
        side = lab == 0 if lab is not None else None
        if side is None or cost >= now - 1e-9:
            cost, side = best_split(w[nodes], induced(graph.nbrs, nodes), target, lo, hi, rng)
        if side is not None and cost < now - 1e-9:
            labels[nodes[side]] = a
            labels[nodes[~side]] = b
            return True
    return False


def _fix_part3(labels, w, graph, a, target, lo, hi, rng) -> bool:
    """Recombine ``a`` with two neighbouring parts and cut the union in three."""
    pw = np.bincount(labels, w, minlength=labels.max() + 1)
    for b in graph.touching(labels, [a]):
        for c in graph.touching(labels, [a, b]):
            trio = [a, int(b), int(c)]
            nodes = np.flatnonzero(np.isin(labels, trio))
            now = float(band_cost(pw[trio], target, lo, hi).sum())
            cost, lab = graph.seeded_split(w, nodes, 3, target, lo, hi)
            if lab is None:
                sub = induced(graph.nbrs, nodes)
                cost, lab = best_split3(w[nodes], sub, target, lo, hi, rng)
            if lab is not None and cost < now - 1e-9:
                labels[nodes] = np.asarray(trio)[lab]
                return True
    return False


def best_split(w: np.ndarray, nbrs: list[list[int]], target, lo, hi, rng, trees: int = 24):
    """Best two-way cut of a connected graph over ``trees`` random spanning trees.

    Returns
    -------
    (cost, side) : (float, ndarray of bool) or (inf, None)
        ``side`` is True for the atoms of the first half.
    """
    if len(w) < 2:
        return np.inf, None
    return _best_cut(RandomForest.draw(nbrs, w, rng, trees), target, lo, hi)


def _best_cut(forest: RandomForest | None, target, lo, hi):
    """The cut of one tree edge of ``forest`` whose two halves fit the band best."""
    if forest is None:
        return np.inf, None
    below = forest.below  # (trees, n): weight of the subtree under each atom (root: all)
    costs = band_cost(below, target, lo, hi) + band_cost(forest.total - below, target, lo, hi)
    costs[:, forest.root] = np.inf  # cutting above the root cuts nothing
    t, v = np.unravel_index(int(np.argmin(costs)), costs.shape)
    return float(costs[t, v]), forest.subtree(int(t), int(v))


def best_split3(w: np.ndarray, nbrs: list[list[int]], target, lo, hi, rng, trees: int = 12):
    """Best three-way cut: one subtree of a random spanning tree, the rest cut in two.

    The rests of all the trees are cut in two together (eight trees each).
    """
    n = len(w)
    best = (np.inf, None)
    if n < 3:
        return best
    forest = RandomForest.draw(nbrs, w, rng, trees)
    if forest is None:
        return best
    below = forest.below
    approx = band_cost(below, target, lo, hi) + 2 * band_cost(
        (forest.total - below) / 2, target, lo, hi
    )
    approx[:, forest.root] = np.inf
    pieces = [forest.subtree(t, v) for t, v in enumerate(np.argmin(approx, axis=1).tolist())]
    rests = [np.flatnonzero(~piece) for piece in pieces]
    halves = RandomForest.draw_many([(induced(nbrs, r), w[r]) for r in rests], rng, 8)
    for piece, rest, half in zip(pieces, rests, halves, strict=True):
        cost2, side = _best_cut(half, target, lo, hi)
        cost = float(band_cost(w[piece].sum(), target, lo, hi)) + cost2
        if side is not None and cost < best[0]:
            lab = np.zeros(n, dtype=np.int64)
            lab[rest[side]] = 1
            lab[rest[~side]] = 2
            best = (cost, lab)
    return best


class RandomForest:
    """Random spanning trees of a small graph, drawn together.

    Each tree is the minimum spanning tree of the graph under independent
    uniform edge weights. All copies (of one graph, or of several: ``draw_many``)
    are solved as one block-diagonal graph whose copies' roots (atom ``root`` of
    each) hang from one extra node: one minimum spanning forest, breadth-first
    order and subtree sum (:func:`~geo.gridplan.spanning.spanning_forest`).
    Households are whole numbers, so the sums are exact in any order.

    Attributes
    ----------
    below : ndarray (trees, n)
        Weight of the subtree under each atom (at the root: the total).
    total : float
    root : int
    """

    root = 0

    def __init__(self, below, parent, order, n, total):
        self.below, self._parent, self._order, self._n = below, parent, order, n
        self.total = total

    @classmethod
    def draw(cls, nbrs: list[list[int]], w, rng: Sampler, trees: int) -> RandomForest | None:
        """Up to ``trees`` trees (fewer when the sampler's budget is short).

        None when the budget is spent or the graph is not connected.
        """
        return cls.draw_many([(nbrs, w)], rng, trees)[0]

    @classmethod
    def draw_many(cls, graphs, rng: Sampler, trees: int) -> list[RandomForest | None]:
        """A forest of up to ``trees`` trees for each ``(nbrs, w)`` of ``graphs``.

        The sampler's budget is shared out evenly; a graph of fewer than two
        atoms, or not connected, gets None (as all do once the budget is spent).
        """
        trees = min(trees, rng.left // max(len(graphs), 1))
        if trees <= 0:
            return [None] * len(graphs)
        used = [g for g, (nbrs, _) in enumerate(graphs) if len(nbrs) >= 2]
        if not used:
            return [None] * len(graphs)
        rng.left -= trees * len(used)
        sizes = np.array([len(graphs[g][1]) for g in used])
        starts = np.concatenate([[0], np.cumsum(sizes * trees)])  # first node of each graph
        size = int(starts[-1])
        rows, cols, weights, tops = [], [], [], []
        for g, first, n in zip(used, starts[:-1].tolist(), sizes.tolist(), strict=True):
            tail, head = _edges(graphs[g][0])
            shift = np.repeat(first + np.arange(trees) * n, len(tail))
            rows.append(np.tile(tail, trees) + shift)
            cols.append(np.tile(head, trees) + shift)
            weights.append(rng.random(trees * len(tail)) + 1.0)  # above the roots' 0.5
            tops.append(first + np.arange(trees) * n + cls.root)
        # every copy's root hangs from one extra node (``size``) by an edge lighter than
        # all others: the spanning forest is each copy's own tree plus these edges
        tops = np.concatenate(tops)
        below = np.zeros(size + 1)
        for g, first, n in zip(used, starts[:-1].tolist(), sizes.tolist(), strict=True):
            below[first : first + n * trees] = np.tile(np.asarray(graphs[g][1], float), trees)
        order, parent, below = spanning_forest(
            size + 1,
            np.concatenate([*rows, np.full(len(tops), size)]),
            np.concatenate([*cols, tops]),
            np.concatenate([*weights, np.full(len(tops), 0.5)]),
            size,
            below,
        )
        reached = np.zeros(size + 1, dtype=bool)
        reached[order] = True
        out: list[RandomForest | None] = [None] * len(graphs)
        for g, first, n in zip(used, starts[:-1].tolist(), sizes.tolist(), strict=True):
            last = first + n * trees
            if not reached[first:last].all():
                continue  # not connected
            mine = order[(order >= first) & (order < last)] - first
            kept = parent[first:last].reshape(trees, n) - (first + np.arange(trees) * n)[:, None]
            kept[:, cls.root] = -1
            below_g = below[first:last].reshape(trees, n)
            out[g] = cls(below_g, kept, mine, n, float(np.sum(graphs[g][1])))
        return out

    def subtree(self, t: int, v: int) -> np.ndarray:
        """Atoms of the subtree under ``v`` in tree ``t`` (a boolean mask)."""
        parent = self._parent[t].tolist()
        side = [False] * self._n
        side[v] = True
        for u in (self._order[self._order // self._n == t] - t * self._n).tolist():
            if u != v and parent[u] >= 0 and side[parent[u]]:
                side[u] = True
        return np.array(side, dtype=bool)


def _edges(nbrs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Each edge of the neighbour lists once: (tail, head) with tail < head."""
    deg = np.fromiter((len(x) for x in nbrs), dtype=np.int64, count=len(nbrs))
    tail = np.repeat(np.arange(len(nbrs)), deg)
    head = np.fromiter(itertools.chain.from_iterable(nbrs), dtype=np.int64, count=deg.sum())
    one = tail < head
    return tail[one], head[one]


MAX_SEEDED = {2: 14, 3: 9}


def seeded_split(w, nbrs, k, target, lo, hi, candidates: int = 40):
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
    seeds = nz.tolist()
    for i in np.argsort(cost, kind="stable")[:candidates].tolist():
        labels = grow_labels(nbrs, seeds, assign[i].tolist(), len(w))
        if labels is not None and pieces_per_label(nbrs, labels, k) == [1] * k:
            return float(cost[i]), np.array(labels, dtype=np.int64)
    return np.inf, None

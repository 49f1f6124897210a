"""Minimum spanning forest, breadth-first order and subtree weights in one compiled call.

The recombination draws its random spanning trees as minimum spanning trees
under random edge weights, many copies at once in one block-diagonal graph
(:class:`~geo.gridplan.recombine.RandomForest`). Each draw is small (tens of
atoms) and there are hundreds per region: building sparse matrices for
``scipy.sparse.csgraph`` cost more than the trees. Here Kruskal's algorithm,
the breadth-first search from the root and the subtree sums run compiled
(numba, cached on disk).
"""

from __future__ import annotations

import numpy as np
from numba import njit

UNREACHED = -9999  # the parent of an atom the search does not reach (scipy's value)


def spanning_forest(n, tails, heads, weights, root, node_weights):
    """The minimum spanning forest's breadth-first ``order`` from ``root``, ``parent``, ``below``.

    ``order`` lists the nodes reached from ``root`` (root first, level by
    level); ``parent`` is each node's parent in the tree (``UNREACHED`` for the
    root and the nodes not reached); ``below`` the sum of ``node_weights`` over
    each node's subtree. Edge weights must be distinct where it matters (ties
    between edges that both join separate trees are harmless).

    Examples
    --------
    >>> # a square 0-1-2-3-0; the heavy edge 3-0 stays out
    >>> order, parent, below = spanning_forest(
    ...     4, np.array([0, 1, 2, 3]), np.array([1, 2, 3, 0]),
    ...     np.array([1.0, 2.0, 3.0, 9.0]), 0, np.array([1.0, 2.0, 3.0, 4.0]))
    >>> order.tolist(), parent.tolist(), below.tolist()
    ([0, 1, 2, 3], [-9999, 0, 1, 2], [10.0, 9.0, 7.0, 4.0])
    """
    return _forest(
        int(n),
        np.asarray(tails, dtype=np.int64),
        np.asarray(heads, dtype=np.int64),
        np.asarray(weights, dtype=np.float64),
        int(root),
        np.asarray(node_weights, dtype=np.float64),
    )


@njit(cache=True, nogil=True)
def _find(up, x):
    while up[x] != x:
        up[x] = up[up[x]]
        x = up[x]
    return x


@njit(cache=True, nogil=True)
def _forest(n, tails, heads, weights, root, node_weights):
    up = np.arange(n)
    kept = np.zeros(len(weights), dtype=np.bool_)
    degree = np.zeros(n, dtype=np.int64)
    for e in np.argsort(weights, kind="mergesort"):
        a, b = _find(up, tails[e]), _find(up, heads[e])
        if a != b:
            up[a] = b
            kept[e] = True
            degree[tails[e]] += 1
            degree[heads[e]] += 1
    start = np.zeros(n + 1, dtype=np.int64)
    for v in range(n):
        start[v + 1] = start[v] + degree[v]
    fill = start[:-1].copy()
    around = np.empty(start[n], dtype=np.int64)
    for e in range(len(weights)):
        if kept[e]:
            around[fill[tails[e]]] = heads[e]
            fill[tails[e]] += 1
            around[fill[heads[e]]] = tails[e]
            fill[heads[e]] += 1
    parent = np.full(n, UNREACHED, dtype=np.int64)
    seen = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    order[0] = root
    seen[root] = True
    head, tail = 0, 1
    while head < tail:
        x = order[head]
        head += 1
        for i in range(start[x], start[x + 1]):
            u = around[i]
            if not seen[u]:
                seen[u] = True
                parent[u] = x
                order[tail] = u
                tail += 1
    below = node_weights.copy()
    for i in range(tail - 1, 0, -1):  # children before their parents
        u = order[i]
        below[parent[u]] += below[u]
    return order[:tail], parent, below

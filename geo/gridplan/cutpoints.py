"""The link atoms a group of towers cannot do without, for many groups at once, compiled.

A group's towers are joined through link atoms (buildings without households)
and through each other; other towers are closed to it. A link atom is *needed*
by the group when every such connection between two of its towers passes it:
an articulation point of the graph of link atoms and the group's towers that
has group atoms on both sides. One depth-first search per group (Tarjan's low
points) finds them all.

The tower-grouping proof asks this for thousands of groups of one graph
(10k subset: 4,003 groups of a 58-atom community), each a search of a few
dozen atoms: interpreted, the calls cost more than the searches. So the
searches run in one compiled call (numba, cached on disk after the first).
"""

from __future__ import annotations

import numpy as np
from numba import njit


def needed_links(indptr, indices, heavy, groups) -> list[list[int]]:
    """The needed link atoms (sorted) of each group of ``groups`` (iterables of tower atoms).

    ``indptr``/``indices``: the atom graph in CSR form (symmetric, no self
    loops); ``heavy``: True for towers (atoms with households). A group of
    fewer than two atoms, or whose towers the link atoms cannot join, needs none.

    Examples
    --------
    >>> # tower 0 - link 1 - tower 2, and tower 2 - tower 3
    >>> indptr, indices = np.array([0, 1, 3, 5, 6]), np.array([1, 0, 2, 1, 3, 2])
    >>> heavy = np.array([True, False, True, True])
    >>> needed_links(indptr, indices, heavy, [{0, 2}, {2, 3}, {0, 3}, {0}])
    [[1], [], [], []]
    """
    members = [sorted(int(v) for v in g) for g in groups]
    sizes = np.fromiter((len(m) for m in members), dtype=np.int64, count=len(members))
    gptr = np.zeros(len(members) + 1, dtype=np.int64)
    np.cumsum(sizes, out=gptr[1:])
    flat = np.fromiter((v for m in members for v in m), dtype=np.int64, count=int(gptr[-1]))
    optr, out = _needed(
        np.asarray(indptr, dtype=np.int64),
        np.asarray(indices, dtype=np.int64),
        np.asarray(heavy, dtype=np.bool_),
        gptr,
        flat,
    )
    found = out.tolist()
    ends = optr.tolist()
    return [found[ends[i] : ends[i + 1]] for i in range(len(members))]


@njit(cache=True, nogil=True)
def _needed(indptr, indices, heavy, gptr, flat):
    n = len(heavy)
    in_group = np.zeros(n, dtype=np.bool_)
    disc = np.full(n, -1, dtype=np.int64)
    low = np.zeros(n, dtype=np.int64)
    held = np.zeros(n, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    edge = np.zeros(n, dtype=np.int64)  # next neighbour to look at, by atom
    needed = np.zeros(n, dtype=np.bool_)
    stack = np.empty(n, dtype=np.int64)
    seen = np.empty(n, dtype=np.int64)
    out = np.empty(0, dtype=np.int64)
    out_n = 0
    optr = np.zeros(len(gptr), dtype=np.int64)
    for g in range(len(gptr) - 1):
        a, b = gptr[g], gptr[g + 1]
        optr[g + 1] = out_n
        if b - a < 2:
            continue
        for i in range(a, b):
            in_group[flat[i]] = True
        start = flat[a]  # members are sorted: the smallest
        n_seen = 1
        seen[0] = start
        disc[start] = 0
        low[start] = 0
        held[start] = 1
        edge[start] = indptr[start]
        top = 0
        stack[0] = start
        while top >= 0:
            x = stack[top]
            if edge[x] < indptr[x + 1]:
                u = indices[edge[x]]
                edge[x] += 1
                if heavy[u] and not in_group[u]:
                    continue  # another group's tower: closed
                if disc[u] < 0:
                    disc[u] = n_seen
                    low[u] = n_seen
                    held[u] = 1 if in_group[u] else 0
                    parent[u] = x
                    edge[u] = indptr[u]
                    seen[n_seen] = u
                    n_seen += 1
                    top += 1
                    stack[top] = u
                elif disc[u] < low[x]:
                    low[x] = disc[u]
                continue
            top -= 1
            if top >= 0:
                p = parent[x]
                if low[x] < low[p]:
                    low[p] = low[x]
                held[p] += held[x]
                if held[x] > 0 and low[x] >= disc[p] and p != start and not heavy[p]:
                    needed[p] = True
        if held[start] == b - a:
            count = 0
            for i in range(n_seen):
                if needed[seen[i]]:
                    count += 1
            if out_n + count > len(out):
                grown = np.empty(max(2 * len(out), out_n + count, 16), dtype=np.int64)
                grown[:out_n] = out[:out_n]
                out = grown
            for i in range(n_seen):
                if needed[seen[i]]:
                    out[out_n] = seen[i]
                    out_n += 1
            out[optr[g + 1] : out_n].sort()
        for i in range(n_seen):  # reset what this group touched
            v = seen[i]
            disc[v] = -1
            needed[v] = False
            parent[v] = -1
        for i in range(a, b):
            in_group[flat[i]] = False
        optr[g + 1] = out_n
    return optr, out[:out_n]

"""Towers joined through household-free atoms: which pairs can be, and each group's links.

Two towers are *near* when a walk of at most ``hops + 1`` edges joins them
whose inner atoms hold no households (:func:`tower_graph`); the tower grouping
enumerates connected groups on that graph.

A group's towers are joined one after another: a tower that touches the
towers (and links) joined so far needs nothing; otherwise the shortest path
through at most ``max_hops`` household-free atoms to any of them is added (the
first found breadth first, neighbours in the graph's order). A tower no such
path reaches yet waits until the others are in; a group whose towers cannot
all be joined gets None. The tower grouping asks this for every candidate
group (thousands per tower community), so the searches run compiled (numba,
cached on disk).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import sparse


def tower_graph(adj, heavy, hops: int) -> sparse.csr_array:
    """The near graph among the towers (``heavy`` atoms, in index order), 1 for near pairs.

    ``adj``: the atom graph (CSR; an edge is a positive entry).

    Examples
    --------
    >>> # a path 0-1-2-3-4, towers 0, 3, 4: 0 and 3 near through 1 and 2 when hops >= 2
    >>> path = sparse.csr_array(sparse.diags([1.0, 1.0], [-1, 1], shape=(5, 5)))
    >>> heavy = np.array([True, False, False, True, True])
    >>> tower_graph(path, heavy, 2).toarray().tolist()
    [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    >>> tower_graph(path, heavy, 1).toarray().tolist()
    [[0, 0, 0], [0, 0, 1], [0, 1, 0]]
    """
    heavy = np.asarray(heavy, dtype=np.bool_)
    indptr, indices = _near(
        np.asarray(adj.indptr, dtype=np.int64),
        np.asarray(adj.indices, dtype=np.int64),
        np.asarray(adj.data) > 0,
        heavy,
        int(hops),
    )
    m = int(heavy.sum())
    return sparse.csr_array((np.ones(len(indices), dtype=np.int64), indices, indptr), shape=(m, m))


@njit(cache=True, nogil=True)
def _near(indptr, indices, edge, heavy, hops):
    n = len(heavy)
    rank = np.full(n, -1, dtype=np.int64)  # a tower's row in the near graph
    m = 0
    for v in range(n):
        if heavy[v]:
            rank[v] = m
            m += 1
    depth = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    found = np.zeros(m, dtype=np.bool_)
    out_ptr = np.zeros(m + 1, dtype=np.int64)
    out = np.empty(16, dtype=np.int64)
    out_n = 0
    for v in range(n):
        if not heavy[v]:
            continue
        depth[v] = 0
        queue[0] = v
        head, tail = 0, 1
        while head < tail:
            x = queue[head]
            head += 1
            if depth[x] > hops or (x != v and heavy[x]):
                continue  # too far to go on, or a tower: walks stop there
            for i in range(indptr[x], indptr[x + 1]):
                u = indices[i]
                if not edge[i]:
                    continue
                if heavy[u] and u != v:
                    found[rank[u]] = True
                if depth[u] < 0:
                    depth[u] = depth[x] + 1
                    queue[tail] = u
                    tail += 1
        count = 0
        for j in range(m):
            if found[j]:
                count += 1
        if out_n + count > len(out):
            grown = np.empty(max(2 * len(out), out_n + count), dtype=np.int64)
            grown[:out_n] = out[:out_n]
            out = grown
        for j in range(m):
            if found[j]:
                out[out_n] = j
                out_n += 1
                found[j] = False
        out_ptr[rank[v] + 1] = out_n
        for i in range(tail):
            depth[queue[i]] = -1
    return out_ptr, out[:out_n]


def group_links(indptr, indices, heavy, groups, max_hops: int) -> list[list[int] | None]:
    """The joining link atoms of each group (atom lists, in the order they were added) or None.

    ``groups``: sequences of atoms (towers), joined in the order given.

    Examples
    --------
    >>> # a path 0-1-2-3-4: towers 0 and 3 joined through free atoms 2 and 1 (found from
    >>> # 3), 4 touches 3; 0 and 4 cannot be joined: paths do not pass through tower 3
    >>> indptr = np.array([0, 1, 3, 5, 7, 8])
    >>> indices = np.array([1, 0, 2, 1, 3, 2, 4, 3])
    >>> heavy = np.array([True, False, False, True, True])
    >>> group_links(indptr, indices, heavy, [(0, 3), (3, 4), (0, 4)], 3)
    [[1, 2], [], None]
    >>> group_links(indptr, indices, heavy, [(0, 3)], 1)
    [None]
    """
    sizes = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    gptr = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(sizes, out=gptr[1:])
    flat = np.fromiter((v for g in groups for v in g), dtype=np.int64, count=int(gptr[-1]))
    ok, optr, out = _join(
        np.asarray(indptr, dtype=np.int64),
        np.asarray(indices, dtype=np.int64),
        np.asarray(heavy, dtype=np.bool_),
        gptr,
        flat,
        int(max_hops),
    )
    found, ends, joined = out.tolist(), optr.tolist(), ok.tolist()
    return [found[ends[i] : ends[i + 1]] if joined[i] else None for i in range(len(groups))]


@njit(cache=True, nogil=True)
def _path(v, indptr, indices, heavy, joined, prev, touched, max_hops, path):
    """Shortest free path from ``v`` to a joined atom into ``path`` (its length; -1: none).

    ``prev`` is -2 where unset and is left so; ``touched`` is scratch.
    """
    prev[v] = -1
    touched[0] = v
    n_touched = 1
    start, end = 0, 1  # the frontier: touched[start:end]
    length = -1
    for _ in range(max_hops + 1):
        for f in range(start, end):
            x = touched[f]
            for i in range(indptr[x], indptr[x + 1]):
                u = indices[i]
                if prev[u] != -2:
                    continue
                if joined[u]:
                    length = 0
                    y = x
                    while y != -1 and y != v:
                        path[length] = y
                        length += 1
                        y = prev[y]
                    break
                if not heavy[u]:
                    prev[u] = x
                    touched[n_touched] = u
                    n_touched += 1
            if length >= 0:
                break
        if length >= 0:
            break
        start, end = end, n_touched
    for i in range(n_touched):
        prev[touched[i]] = -2
    return length


@njit(cache=True, nogil=True)
def _join(indptr, indices, heavy, gptr, flat, max_hops):
    n = len(heavy)
    joined = np.zeros(n, dtype=np.bool_)
    prev = np.full(n, -2, dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    path = np.empty(n, dtype=np.int64)
    added = np.empty(n, dtype=np.int64)  # atoms joined in this group, to reset
    todo = np.empty(n + 1, dtype=np.int64)
    ok = np.zeros(len(gptr) - 1, dtype=np.bool_)
    optr = np.zeros(len(gptr), dtype=np.int64)
    out = np.empty(16, dtype=np.int64)
    out_n = 0
    for g in range(len(gptr) - 1):
        a, b = gptr[g], gptr[g + 1]
        first_out = out_n
        joined[flat[a]] = True
        added[0] = flat[a]
        n_added = 1
        head, tail = 0, 0  # todo is a queue: towers still to join
        for i in range(a + 1, b):
            todo[tail % (n + 1)] = flat[i]
            tail += 1
        stall = 0
        failed = False
        while head < tail:
            v = todo[head % (n + 1)]
            head += 1
            touches = False
            for i in range(indptr[v], indptr[v + 1]):
                if joined[indices[i]]:
                    touches = True
                    break
            length = 0
            if not touches:
                length = _path(v, indptr, indices, heavy, joined, prev, touched, max_hops, path)
            if length < 0:
                todo[tail % (n + 1)] = v
                tail += 1
                stall += 1
                if stall > tail - head:
                    failed = True
                    break
                continue
            stall = 0
            if out_n + length > len(out):
                grown = np.empty(max(2 * len(out), out_n + length), dtype=np.int64)
                grown[:out_n] = out[:out_n]
                out = grown
            for i in range(length):
                out[out_n] = path[i]
                out_n += 1
                joined[path[i]] = True
                added[n_added] = path[i]
                n_added += 1
            if not joined[v]:
                joined[v] = True
                added[n_added] = v
                n_added += 1
        for i in range(n_added):
            joined[added[i]] = False
        if failed:
            out_n = first_out
        ok[g] = not failed
        optr[g + 1] = out_n
    return ok, optr, out[:out_n]

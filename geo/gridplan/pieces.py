"""Parts made connected: each detached piece of a part goes to the neighbour it touches most.

A part's largest piece (by households) keeps the part's label; every other
piece, taken in order of its first atom, goes to the neighbouring part it
shares the longest border with (ties: the lower label), and this repeats until
every part is one piece (at most ``rounds`` times). METIS and the exact
groupings leave such pieces; the repair runs after each of them, so it runs
compiled (numba, cached on disk).
"""

from __future__ import annotations

import numpy as np
from numba import njit


def make_connected(labels, adj, w, rounds: int = 50) -> np.ndarray:
    """``labels`` with every part in one piece on the CSR ``adj`` (a copy).

    Examples
    --------
    >>> from scipy import sparse
    >>> path = sparse.csr_array(sparse.diags([1.0, 1.0], [-1, 1], shape=(5, 5)))
    >>> make_connected(np.array([0, 0, 1, 0, 1]), path, np.ones(5)).tolist()
    [0, 0, 1, 1, 1]
    """
    return _connect(
        np.asarray(labels, dtype=np.int64).copy(),
        np.asarray(adj.indptr, dtype=np.int64),
        np.asarray(adj.indices, dtype=np.int64),
        np.asarray(adj.data, dtype=np.float64),
        np.asarray(w, dtype=np.float64),
        int(rounds),
    )


@njit(cache=True, nogil=True)
def _components(labels, indptr, indices):
    """Pieces (connected within one label), numbered in order of their first atom."""
    n = len(labels)
    comp = np.full(n, -1, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    count = 0
    for s in range(n):
        if comp[s] >= 0:
            continue
        comp[s] = count
        stack[0] = s
        top = 1
        while top > 0:
            top -= 1
            x = stack[top]
            for i in range(indptr[x], indptr[x + 1]):
                u = indices[i]
                if comp[u] < 0 and labels[u] == labels[x]:
                    comp[u] = count
                    stack[top] = u
                    top += 1
        count += 1
    return comp, count


@njit(cache=True, nogil=True)
def _connect(labels, indptr, indices, data, w, rounds):
    n = len(labels)
    k = 0
    for v in range(n):
        k = max(k, labels[v] + 1)
    for _ in range(rounds):
        comp, ncomp = _components(labels, indptr, indices)
        present = np.zeros(k, dtype=np.bool_)
        for v in range(n):
            present[labels[v]] = True
        if ncomp == present.sum():
            return labels
        size = np.zeros(ncomp)
        start = np.zeros(ncomp + 1, dtype=np.int64)
        for v in range(n):
            size[comp[v]] += w[v] + 1e-6
            start[comp[v] + 1] += 1
        for c in range(ncomp):
            start[c + 1] += start[c]
        members = np.empty(n, dtype=np.int64)  # each piece's atoms, in index order
        fill = start[:-1].copy()
        for v in range(n):
            members[fill[comp[v]]] = v
            fill[comp[v]] += 1
        keep = np.full(k, -1, dtype=np.int64)  # the piece each label keeps: its largest
        for c in np.argsort(-size, kind="mergesort"):
            lab = labels[members[start[c]]]
            if keep[lab] < 0:
                keep[lab] = c
        kept = np.zeros(ncomp, dtype=np.bool_)
        for lab in range(k):
            if keep[lab] >= 0:
                kept[keep[lab]] = True
        score = np.zeros(k)
        touched = np.zeros(k, dtype=np.bool_)
        for c in range(ncomp):
            if kept[c]:
                continue
            for j in range(start[c], start[c + 1]):
                v = members[j]
                for i in range(indptr[v], indptr[v + 1]):
                    u = indices[i]
                    if comp[u] != c:
                        score[labels[u]] += data[i]
                        touched[labels[u]] = True
            best = -1
            for lab in range(k):  # the highest score; ties: the lower label
                if touched[lab] and (best < 0 or score[lab] > score[best]):
                    best = lab
            if best >= 0:
                for j in range(start[c], start[c + 1]):
                    labels[members[j]] = best
            score[:] = 0.0
            touched[:] = False
    return labels

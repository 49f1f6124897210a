"""The boundary local search of the balanced partition, compiled.

Atoms are visited in order; an atom moves to the neighbouring part that lowers
``BIG·(band violation + penalty if outside) + (h − target)²/target + λ·cut``
the most (ties: the lower part number), unless the move would disconnect the
part it leaves. After the first pass only atoms in or next to a part that
changed are visited again. The search reads one atom at a time, tens of
thousands of times per region, so it runs compiled (numba, cached on disk);
its arithmetic is the interpreted search's, step for step.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geo.gridplan.recombine import outside_penalty, part_cost


def rebalance(labels, w, adj, target, lo, hi, lam=0.01, max_passes=40) -> np.ndarray:
    """Labels after the local search on the CSR ``adj`` (shared-border weights).

    ``labels`` (parts 0..k-1, each connected) are not changed in place.

    Examples
    --------
    >>> from scipy import sparse
    >>> path = sparse.csr_array(sparse.diags([1.0, 1.0], [-1, 1], shape=(4, 4)))
    >>> rebalance(np.array([0, 1, 1, 1]), np.full(4, 100.0), path, 200, 170, 230).tolist()
    [0, 0, 1, 1]
    """
    labels = np.asarray(labels, dtype=np.int64)
    penalty = outside_penalty(lo, hi)
    return _search(
        labels.copy(),
        np.asarray(w, dtype=np.float64),
        np.asarray(adj.indptr, dtype=np.int64),
        np.asarray(adj.indices, dtype=np.int64),
        np.asarray(adj.data, dtype=np.float64),
        float(target),
        float(lo),
        float(hi),
        float(lam),
        float(penalty),
        int(max_passes),
    )


@njit(cache=True, nogil=True)
def _search(labels, w, indptr, indices, data, t, lo, hi, lam, penalty, max_passes):
    n = len(w)
    k = 0
    for v in range(n):
        k = max(k, labels[v] + 1)
    pw = np.zeros(k)
    count = np.zeros(k, dtype=np.int64)
    for v in range(n):
        pw[labels[v]] += w[v]
        count[labels[v]] += 1
    touch = np.zeros(k)  # shared border with each part, by part (reset after each atom)
    touched = np.empty(k, dtype=np.int64)  # the parts touched, in the order first met
    is_touched = np.zeros(k, dtype=np.bool_)
    seen = np.zeros(n, dtype=np.bool_)
    queue = np.empty(n, dtype=np.int64)
    changed = np.zeros(k, dtype=np.bool_)
    todo = np.arange(n)
    for _ in range(max_passes):
        any_change = False
        for v in todo:
            a = labels[v]
            start, end = indptr[v], indptr[v + 1]
            if start == end or count[a] <= 1:
                continue
            m = 0
            for i in range(start, end):
                lab = labels[indices[i]]
                if not is_touched[lab]:
                    is_touched[lab] = True
                    touched[m] = lab
                    m += 1
                touch[lab] = touch[lab] + data[i]
            best_b = -1
            best = 0.0
            if not (m == 1 and touched[0] == a):
                wv, pa = w[v], pw[a]
                base_a = part_cost(pa, t, lo, hi, penalty) - part_cost(pa - wv, t, lo, hi, penalty)
                e_a = touch[a] if is_touched[a] else 0.0
                for j in range(m):
                    b = touched[j]
                    if b == a:
                        continue
                    pb = pw[b]
                    delta = (
                        part_cost(pb + wv, t, lo, hi, penalty)
                        - part_cost(pb, t, lo, hi, penalty)
                        - base_a
                        + lam * (e_a - touch[b])
                    )
                    better = best_b < 0 or delta < best or (delta == best and b < best_b)
                    if delta < -1e-9 and better:
                        best, best_b = delta, b
            for j in range(m):
                touch[touched[j]] = 0.0
                is_touched[touched[j]] = False
            if best_b < 0:
                continue
            if not _stays_connected(v, a, labels, indptr, indices, count, seen, queue):
                continue
            labels[v] = best_b
            pw[a] -= w[v]
            pw[best_b] += w[v]
            count[a] -= 1
            count[best_b] += 1
            changed[a] = True
            changed[best_b] = True
            any_change = True
        if not any_change:
            break
        hit = np.zeros(n, dtype=np.bool_)  # atoms in or next to a part that changed
        for v in range(n):
            if changed[labels[v]]:
                hit[v] = True
        near = hit.copy()
        for v in range(n):
            for i in range(indptr[v], indptr[v + 1]):
                if hit[indices[i]]:
                    near[v] = True
                    break
        todo = np.flatnonzero(near)
        changed[:] = False
    return labels


@njit(cache=True, nogil=True)
def _stays_connected(v, a, labels, indptr, indices, count, seen, queue):
    """Whether part ``a`` stays connected without atom ``v`` (``seen`` is left all False)."""
    first = -1
    for i in range(indptr[v], indptr[v + 1]):
        if labels[indices[i]] == a:
            first = indices[i]
            break
    if first < 0:
        return False
    seen[v] = True
    seen[first] = True
    queue[0] = first
    head, tail = 0, 1
    while head < tail:
        x = queue[head]
        head += 1
        for i in range(indptr[x], indptr[x + 1]):
            u = indices[i]
            if not seen[u] and labels[u] == a:
                seen[u] = True
                queue[tail] = u
                tail += 1
    seen[v] = False
    for i in range(tail):
        seen[queue[i]] = False
    return tail - (first == v) == count[a] - 1  # (a self-loop at v starts the search at v)

"""Last-resort balancing for communities of few, large buildings (towers).

When a handful of towers hold most households, single-atom moves and pairwise
recombination get stuck: every move overshoots the band. Here the state is the
grouping of the *household-holding* atoms only; household-free atoms are grown
around the groups by breadth-first search. A hill climb moves or swaps
towers between groups and keeps a change when it makes fewer groups
disconnected, or equally many and less band violation, or equal violation and
better balance.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy import sparse

from geo.gridplan.recombine import _connected, band_cost


def regroup(
    labels: np.ndarray,
    w: np.ndarray,
    adj: sparse.csr_array,
    target,
    lo,
    hi,
    max_nonzero: int = 80,
    sweeps: int = 8,
    evaluations: int = 3000,
) -> np.ndarray:
    """Labels at least as good as ``labels`` (same number of parts), see module doc.

    Only towers in groups outside the band are moved or swapped; the climb
    stops after ``sweeps`` passes or ``evaluations`` scored groupings (a count,
    not a clock, so the result never depends on the machine's load).
    """
    nz = np.flatnonzero(w > 0)
    k = int(labels.max()) + 1
    if len(nz) > max_nonzero or k < 2:
        return labels
    nbrs = [adj.indices[adj.indptr[v] : adj.indptr[v + 1]].tolist() for v in range(len(w))]
    climber = _Climber(nbrs, w, nz, k, target, lo, hi)
    groups = labels[nz].copy()
    best = climber.score(groups)
    start = _score_labels(labels, w, nbrs, k, target, lo, hi)
    for _ in range(sweeps):
        improved = False
        pw = np.bincount(groups, w[nz], minlength=k)
        bad = set(np.flatnonzero((pw < lo) | (pw > hi)).tolist())
        for i in [i for i in range(len(nz)) if groups[i] in bad]:
            if len(climber.cache) > evaluations:
                break
            for g in range(k):
                trial = groups.copy()
                trial[i] = g
                if g != groups[i] and _take(climber, trial, groups, best):
                    improved = True
                    best = climber.score(groups)
            for j in range(len(nz)):
                if groups[i] == groups[j]:
                    continue
                trial = groups.copy()
                trial[i], trial[j] = groups[j], groups[i]
                if _take(climber, trial, groups, best):
                    improved = True
                    best = climber.score(groups)
        if not improved or best[:2] == (0, 0.0) or len(climber.cache) > evaluations:
            break
    grown = climber.grow(groups)
    if grown is None or best >= start:
        return labels
    return grown


def _take(climber, trial, groups, best) -> bool:
    score = climber.score(trial)
    if score < best:
        groups[:] = trial
        return True
    return False


def _score_labels(labels, w, nbrs, k, target, lo, hi) -> tuple:
    pw = np.bincount(labels, w, minlength=k)
    broken = sum(not _connected(nbrs, labels, g) for g in range(k))
    viol = float(np.sum(np.maximum(0, pw - hi) + np.maximum(0, lo - pw)))
    return broken, round(viol, 9), float(np.sum((pw - target) ** 2))


class _Climber:
    def __init__(self, nbrs, w, nz, k, target, lo, hi):
        self.nbrs, self.w, self.nz, self.k = nbrs, w, nz, k
        self.target, self.lo, self.hi = target, lo, hi
        self.cache: dict[bytes, tuple] = {}

    def grow(self, groups) -> np.ndarray | None:
        n = len(self.w)
        labels = np.full(n, -1, dtype=np.int64)
        labels[self.nz] = groups
        queue = deque(int(s) for s in self.nz)
        while queue:
            v = queue.popleft()
            for u in self.nbrs[v]:
                if labels[u] < 0:
                    labels[u] = labels[v]
                    queue.append(u)
        return None if (labels < 0).any() else labels

    def score(self, groups) -> tuple:
        key = groups.tobytes()
        if key in self.cache:
            return self.cache[key]
        pw = np.bincount(groups, self.w[self.nz], minlength=self.k)
        viol = float(np.sum(np.maximum(0, pw - self.hi) + np.maximum(0, self.lo - pw)))
        if (pw == 0).any():
            out = (self.k, viol, float(band_cost(pw, self.target, self.lo, self.hi).sum()))
        else:
            labels = self.grow(groups)
            broken = (
                self.k
                if labels is None
                else sum(not _connected(self.nbrs, labels, g) for g in range(self.k))
            )
            out = (broken, round(viol, 9), float(np.sum((pw - self.target) ** 2)))
        self.cache[key] = out
        return out


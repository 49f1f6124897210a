"""Weighted k-means (Lloyd) with a seeded k-means++ start; small and deterministic."""

from __future__ import annotations

import numpy as np


def weighted_kmeans(
    xy: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator, iters: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster points into ``k`` groups minimising the weighted squared distance.

    Parameters
    ----------
    xy : ndarray, shape (n, 2)
        Point coordinates (metres).
    weights : ndarray, shape (n,)
        Non-negative weights (e.g. households); all-zero weights count as equal.
    k : int
        Number of clusters (clamped to ``n``).
    rng : numpy.random.Generator
        Source of the k-means++ seeding.
    iters : int
        Lloyd iterations.

    Returns
    -------
    centres : ndarray, shape (k, 2)
    labels : ndarray, shape (n,)

    Examples
    --------
    >>> xy = np.array([[0.0, 0], [1, 0], [10, 0], [11, 0]])
    >>> c, lab = weighted_kmeans(xy, np.ones(4), 2, np.random.default_rng(0))
    >>> sorted(np.bincount(lab).tolist())
    [2, 2]
    """
    n = len(xy)
    k = max(1, min(k, n))
    w = np.asarray(weights, float)
    w = np.ones(n) if w.sum() <= 0 else w + 1e-9
    centres = np.empty((k, 2))
    centres[0] = xy[rng.choice(n, p=w / w.sum())]
    d2 = ((xy - centres[0]) ** 2).sum(1)
    for j in range(1, k):
        p = w * d2
        idx = rng.choice(n, p=p / p.sum()) if p.sum() > 0 else rng.integers(n)
        centres[j] = xy[idx]
        d2 = np.minimum(d2, ((xy - centres[j]) ** 2).sum(1))
    labels = np.zeros(n, dtype=int)
    for it in range(iters):
        dist = ((xy[:, None, :] - centres[None, :, :]) ** 2).sum(2)
        new = dist.argmin(1)
        if it > 0 and np.array_equal(new, labels):
            break
        labels = new
        mass = np.bincount(labels, weights=w, minlength=k)
        has = mass > 0
        for d in range(2):
            sums = np.bincount(labels, weights=w * xy[:, d], minlength=k)
            centres[has, d] = sums[has] / mass[has]
    return centres, labels

"""Exact regrouping of the neighbourhood of a grid outside the band.

After the repairs, a grid can stay outside the band because the fix needs the
buildings of several grids around it grouped anew, with links through more
household-free buildings than the component-wide grouping allows (its candidate
groups would be too many there). Here only the grid and the grids around it (one
ring of neighbours, then two) are grouped again, exactly, with longer links; the
result is kept when every grid of that neighbourhood fits the band.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from geo.gridplan.setcover import GroupCover


def cover_around(
    labels: np.ndarray,
    w: np.ndarray,
    adj: sparse.csr_array,
    target: float,
    lo: float,
    hi: float,
    rings: tuple[int, ...] = (1, 2),
    hops: int = 4,
    max_groups: int = 4000,
) -> np.ndarray:
    """Labels with the neighbourhoods of grids outside the band regrouped where that fits.

    Parameters
    ----------
    labels : ndarray of int
        Part of each atom (connected parts).
    w : ndarray
        Households per atom.
    adj : sparse array
        Atom adjacency.
    target, lo, hi : float
        Target and band.
    rings : tuple of int
        Neighbourhood sizes tried in turn (rings of neighbouring parts).
    hops, max_groups :
        Passed to :class:`~geo.gridplan.setcover.GroupCover`.

    Returns
    -------
    ndarray of int
        Parts renumbered 0..m-1; the number of parts may change inside a
        regrouped neighbourhood.
    """
    labels = labels.copy()
    coo = adj.tocoo()
    failed: set[frozenset] = set()  # neighbourhoods (atom sets) already tried in vain
    progress = True
    while progress:
        progress = False
        for a in _outside(labels, w, lo, hi):
            for ring in rings:
                nodes = np.flatnonzero(np.isin(labels, ring_parts(labels, coo, a, ring)))
                key = frozenset(nodes.tolist())
                if key in failed:
                    continue
                cover = GroupCover(
                    target, lo, hi, levels=(0,), hops=hops, max_groups=max_groups
                ).fit(w[nodes], adj[nodes][:, nodes])
                if not cover.ok_:
                    failed.add(key)
                    continue
                labels[nodes] = cover.labels_ + labels.max() + 1
                labels = np.unique(labels, return_inverse=True)[1].ravel()
                progress = True
                break
            if progress:
                break  # parts renumbered: look at the grids outside again
    return labels


def _outside(labels, w, lo, hi) -> list[int]:
    pw = np.bincount(labels, w)
    return np.flatnonzero((pw < lo) | (pw > hi)).tolist()


def ring_parts(labels, coo, a, ring) -> list[int]:
    """Part ``a`` and the parts up to ``ring`` steps away from it."""
    touch = labels[coo.row] != labels[coo.col]
    src, dst = labels[coo.row[touch]], labels[coo.col[touch]]
    parts = {a}
    for _ in range(ring):
        parts |= set(dst[np.isin(src, list(parts))].tolist())
    return sorted(parts)

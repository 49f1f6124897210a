"""Grouping of the household-holding buildings of tower districts.

In tower districts a grid holds one to a few buildings, and balancing is a
packing problem that local moves solve badly. Here every connected group of up
to ``max_size`` household-holding atoms whose households do not exceed the
upper bound is enumerated (adjacency: direct, or through a few household-free
atoms), and an exact cover (:class:`~geo.gridplan.cover.ExactCover`) picks
groups that hold each such atom exactly once, inside the band where possible.
Household-free atoms are then linked and grown around the chosen groups; parts
the growth leaves disconnected are repaired by the caller.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from geo.gridplan.cover import ExactCover
from geo.gridplan.growth import grow_labels, pieces_per_label
from geo.gridplan.linkpaths import group_links, tower_graph

HOPS = 3  # household-free atoms a link between two buildings may pass through


class GroupCover:
    """Cover household-holding atoms with connected groups inside the band.

    Parameters
    ----------
    target, lo, hi : float
        Target and band.
    max_size : int
        Largest group (atoms) enumerated.
    max_groups : int
        Give up (``ok_ = False``) when more candidate groups than this exist.
    max_nodes : int
        Search nodes of the exact cover per attempt (a count, not a clock, so
        the result does not depend on the machine's load).
    over : float
        Groups up to ``hi + over·target`` households are candidates too (as
        groups outside the band): one heavy grid can spare several light ones.
    levels : tuple of int
        Numbers of groups outside the band tried in turn (see ``ExactCover``).
    hops : int
        Household-free atoms a link between two buildings of a group may pass through.

    Attributes
    ----------
    labels_ : ndarray or None
        Part of every atom (household-free ones grown around the groups).
    ok_ : bool
        True when a cover was found.
    broken_ : int
        Parts left disconnected by the growth (the caller repairs them).
    """

    def __init__(
        self,
        target: float,
        lo: float,
        hi: float,
        max_size: int = 5,
        max_groups: int = 12_000,
        max_nodes: int = 2000,
        over: float = 0.0,
        levels: tuple[int, ...] = (0, 1, 2),
        hops: int = HOPS,
    ):
        self.target, self.lo, self.hi = float(target), float(lo), float(hi)
        self.max_size = max_size
        self.max_groups = max_groups
        self.max_nodes = max_nodes
        self.over = over
        self.levels = levels
        self.hops = hops

    def fit(self, w: np.ndarray, adj: sparse.csr_array) -> GroupCover:
        """Group the atoms with ``w > 0`` on the atom graph ``adj``."""
        self.labels_, self.ok_ = None, False
        w = np.asarray(w, dtype=float)
        nz = np.flatnonzero(w > 0)
        if len(nz) < 2:
            return self
        near = tower_graph(adj, w > 0, self.hops)
        top = self.hi + self.over * self.target
        groups = _connected_subsets(near, w[nz], top, self.max_size, self.max_groups)
        if groups is None:
            return self
        nbrs = [adj.indices[adj.indptr[v] : adj.indptr[v + 1]].tolist() for v in range(len(w))]
        members = nz.tolist()
        joining = group_links(
            adj.indptr, adj.indices, w > 0, [[members[i] for i in g] for g in groups], self.hops
        )
        links = [None if lk is None else frozenset(set(lk)) for lk in joining]
        keep = [i for i, lk in enumerate(links) if lk is not None]
        groups, links = [groups[i] for i in keep], [links[i] for i in keep]
        cover = ExactCover(self.target, self.lo, self.hi, self.max_nodes, self.levels)
        chosen = cover.fit(w[nz], groups, links).chosen_
        if chosen is None:
            return self
        labels = np.full(len(w), -1, dtype=np.int64)
        for k, i in enumerate(chosen):
            labels[nz[list(groups[i])]] = k
            labels[list(links[i])] = k
        chosen = [groups[i] for i in chosen]
        seeds = np.flatnonzero(labels >= 0)
        grown = grow_labels(nbrs, seeds.tolist(), labels[seeds].tolist(), len(w))
        if grown is None:
            return self
        self.broken_ = sum(c != 1 for c in pieces_per_label(nbrs, grown, len(chosen)))
        self.labels_, self.ok_ = np.array(grown, dtype=np.int64), True
        return self


def _connected_subsets(
    g: sparse.csr_array, w: np.ndarray, hi: float, max_size: int, limit: int
) -> list[tuple] | None:
    """Connected vertex sets up to ``max_size`` with weight ≤ ``hi`` (singletons always)."""
    n = g.shape[0]
    nbrs = [set(g.indices[g.indptr[v] : g.indptr[v + 1]].tolist()) for v in range(n)]
    out: list[tuple] = [(v,) for v in range(n)]
    for v in range(n):
        # ESU-style: extend with neighbours greater than the root, never twice the same set
        stack = [((v,), {u for u in nbrs[v] if u > v}, w[v])]
        while stack:
            sub, ext, total = stack.pop()
            ext = set(ext)
            while ext:
                u = ext.pop()
                t = total + w[u]
                if t > hi + 1e-9:
                    continue
                new = sub + (u,)
                out.append(tuple(sorted(new)))
                if len(out) > limit:
                    return None
                if len(new) < max_size:
                    excl = set(sub)
                    for s in sub:
                        excl |= nbrs[s]
                    more = ext | {x for x in nbrs[u] if x > v and x not in excl}
                    stack.append((new, more, t))
    return list(dict.fromkeys(out))

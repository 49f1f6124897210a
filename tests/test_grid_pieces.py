"""The compiled piece repair (geo.gridplan.pieces) against one written here with scipy's
connected components and dictionaries, from its description; and what it must give:
every part in one piece, no label invented."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geo.gridplan.pieces import make_connected


def reference(labels, adj, w, rounds=50):
    labels = labels.copy()
    coo = adj.tocoo()
    for _ in range(rounds):
        same = labels[coo.row] == labels[coo.col]
        inner = sparse.coo_array((coo.data[same], (coo.row[same], coo.col[same])), shape=adj.shape)
        ncomp, comp = connected_components(inner, directed=False)
        if ncomp == len(set(labels.tolist())):
            return labels
        size = np.bincount(comp, w + 1e-6)
        keep = {}
        for c in np.argsort(-size, kind="stable").tolist():
            keep.setdefault(int(labels[np.flatnonzero(comp == c)[0]]), c)
        for c in sorted(set(comp.tolist()) - set(keep.values())):
            nodes = np.flatnonzero(comp == c)
            score = {}
            for v in nodes.tolist():
                for u, e in zip(adj.indices[adj.indptr[v] : adj.indptr[v + 1]].tolist(),
                                adj.data[adj.indptr[v] : adj.indptr[v + 1]].tolist(), strict=True):
                    if comp[u] != c:
                        score[int(labels[u])] = score.get(int(labels[u]), 0.0) + e
            if score:
                top = max(score.values())
                labels[nodes] = min(lab for lab, s in score.items() if s == top)
    return labels


def case(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 80))
    g = nx.connected_watts_strogatz_graph(n, 4, 0.2, seed=int(rng.integers(1e9)))
    rows, cols = np.array(list(g.edges())).T
    e = rng.integers(1, 6, len(rows)).astype(float)  # whole lengths: ties happen
    adj = sparse.csr_array((np.r_[e, e], (np.r_[rows, cols], np.r_[cols, rows])), shape=(n, n))
    labels = rng.integers(0, int(rng.integers(2, 7)), n)
    w = rng.choice([0.0, 10.0, 30.0], n)
    return labels, adj, w, g


@pytest.mark.parametrize("seed", range(60))
def test_equals_the_scipy_and_dict_repair(seed):
    labels, adj, w, _ = case(seed)
    assert make_connected(labels, adj, w).tolist() == reference(labels, adj, w).tolist()


def test_every_part_ends_in_one_piece_with_labels_it_had():
    split = 0
    for seed in range(60):
        labels, adj, w, g = case(seed)
        got = make_connected(labels, adj, w)
        assert set(got.tolist()) <= set(labels.tolist())
        for lab in set(got.tolist()):
            assert nx.is_connected(g.subgraph(np.flatnonzero(got == lab).tolist()))
        split += sum(not nx.is_connected(g.subgraph(np.flatnonzero(labels == lab).tolist()))
                     for lab in set(labels.tolist()))
    assert split > 100  # the random labels do leave parts in pieces


def test_a_round_limit_stops_early_and_input_is_kept():
    labels, adj, w, _ = case(5)
    before = labels.copy()
    once = make_connected(labels, adj, w, rounds=1)
    assert once.tolist() == reference(labels, adj, w, 1).tolist()
    assert (labels == before).all()

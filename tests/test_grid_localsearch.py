"""The compiled local search (geo.gridplan.localsearch) against a plain-Python one written
here from its description: same moves, same order, same ties, so the same labels; and what
any such search must keep (parts connected, the cost never higher)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from geo.gridplan.localsearch import rebalance
from geo.gridplan.recombine import BIG


def cost(x, t, lo, hi):
    pen = (hi - lo) / 2
    d = x - t
    if x > hi:
        return BIG * (x - hi + pen) + d * d / t
    if x < lo:
        return BIG * (lo - x + pen) + d * d / t
    return d * d / t


def reference(labels, w, adj, t, lo, hi, lam, passes):
    """Visit atoms in order; best improving move to a touching part unless it disconnects."""
    g = nx.Graph()
    g.add_nodes_from(range(len(w)))
    coo = adj.tocoo()
    g.add_edges_from(zip(coo.row.tolist(), coo.col.tolist(), strict=True))
    labels = list(labels)
    ptr, idx, data = adj.indptr, adj.indices, adj.data
    todo = list(range(len(w)))
    for _ in range(passes):
        changed = set()
        for v in todo:
            a = labels[v]
            size_a = labels.count(a)
            if ptr[v] == ptr[v + 1] or size_a <= 1:
                continue
            touch = {}
            for u, e in zip(idx[ptr[v] : ptr[v + 1]], data[ptr[v] : ptr[v + 1]], strict=True):
                touch[labels[u]] = touch.get(labels[u], 0.0) + float(e)
            if set(touch) == {a}:
                continue
            pw = {p: sum(w[i] for i in range(len(w)) if labels[i] == p) for p in touch}
            pa = sum(w[i] for i in range(len(w)) if labels[i] == a)
            base = cost(pa, t, lo, hi) - cost(pa - w[v], t, lo, hi)
            moves = [
                (cost(pw[b] + w[v], t, lo, hi) - cost(pw[b], t, lo, hi) - base
                 + lam * (touch.get(a, 0.0) - e_b), b)
                for b, e_b in touch.items() if b != a
            ]
            moves = [m for m in moves if m[0] < -1e-9]
            rest = [i for i in range(len(w)) if labels[i] == a and i != v]
            if not moves or not nx.is_connected(g.subgraph(rest)):
                continue
            if not any(labels[u] == a for u in g[v]):
                continue
            b = min(moves)[1]
            labels[v] = b
            changed |= {a, b}
        if not changed:
            break
        hit = {i for i in range(len(w)) if labels[i] in changed}
        todo = sorted(hit | {i for i in range(len(w)) if any(u in hit for u in g[i])})
    return labels


def objective(labels, w, adj, t, lo, hi, lam=0.01):
    """Band costs of the parts and λ·(shared border cut)."""
    coo = adj.tocoo()
    cut = coo.data[labels[coo.row] != labels[coo.col]].sum() / 2
    return sum(cost(x, t, lo, hi) for x in np.bincount(labels, w)) + lam * cut


def case(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 40))
    g = nx.connected_watts_strogatz_graph(n, 4, 0.3, seed=int(rng.integers(1e9)))
    rows, cols = zip(*g.edges(), strict=True)
    e = rng.uniform(1, 50, len(rows))
    adj = sparse.csr_array((np.r_[e, e], (np.r_[rows, cols], np.r_[cols, rows])), shape=(n, n))
    w = rng.choice([0.0, 20.0, 35.0, 60.0, 90.0], size=n).astype(float)
    k = int(rng.integers(2, 5))
    # connected start: parts grown breadth first from k seeds together
    labels = np.full(n, -1, dtype=np.int64)
    queue = [int(s) for s in rng.permutation(n)[:k]]
    labels[queue] = np.arange(k)
    while queue:
        v = queue.pop(0)
        for u in sorted(g[v]):
            if labels[u] < 0:
                labels[u] = labels[v]
                queue.append(u)
    return labels, w, adj, g


@pytest.mark.parametrize("seed", range(60))
def test_equals_the_plain_python_search(seed):
    labels, w, adj, _ = case(seed)
    t, lo, hi = 150.0, 127.5, 172.5
    got = rebalance(labels, w, adj, t, lo, hi, 0.01, 40).tolist()
    assert got == reference(labels.tolist(), w, adj, t, lo, hi, 0.01, 40)


def test_parts_stay_connected_and_the_objective_does_not_rise():
    moved = 0
    for seed in range(60):
        labels, w, adj, g = case(seed)
        t, lo, hi = 150.0, 127.5, 172.5
        got = rebalance(labels, w, adj, t, lo, hi, 0.01, 40)
        for p in np.unique(got):
            assert nx.is_connected(g.subgraph(np.flatnonzero(got == p).tolist()))

        assert objective(got, w, adj, t, lo, hi) <= objective(labels, w, adj, t, lo, hi) + 1e-6
        moved += int((got != labels).sum())
    assert moved > 100  # the cases do move atoms


def test_input_labels_are_not_changed():
    labels, w, adj, _ = case(3)
    before = labels.copy()
    rebalance(labels, w, adj, 150.0, 127.5, 172.5)
    assert (labels == before).all()

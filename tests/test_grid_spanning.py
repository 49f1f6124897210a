"""The compiled spanning forest (geo.gridplan.spanning) against networkx: the same tree
edges as networkx's minimum spanning forest, a breadth-first order whose parents are tree
neighbours one level up, and subtree weights summed by hand."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from geo.gridplan.spanning import UNREACHED, spanning_forest


@pytest.mark.parametrize("seed", range(40))
def test_equals_networkx(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    g = nx.gnp_random_graph(n, rng.uniform(0.05, 0.4), seed=int(rng.integers(1e9)))
    edges = np.array(list(g.edges()), dtype=np.int64).reshape(-1, 2)
    weights = rng.random(len(edges)) + 1.0
    for (a, b), x in zip(edges.tolist(), weights.tolist(), strict=True):
        g[a][b]["weight"] = x
    node_w = rng.integers(0, 50, n).astype(float)
    root = int(rng.integers(n))
    order, parent, below = spanning_forest(n, edges[:, 0], edges[:, 1], weights, root, node_w)

    mst = nx.minimum_spanning_tree(g, algorithm="kruskal")
    tree = mst.subgraph(nx.node_connected_component(mst, root))
    assert sorted(order.tolist()) == sorted(tree.nodes)  # reaches the root's component only
    assert order[0] == root and parent[root] == UNREACHED
    depth = nx.single_source_shortest_path_length(tree, root)
    assert [depth[v] for v in order.tolist()] == sorted(depth[v] for v in order.tolist())
    got_edges = {frozenset((int(v), int(parent[v]))) for v in order[1:].tolist()}
    assert got_edges == {frozenset(e) for e in tree.edges}
    for v in range(n):
        if v not in depth:
            assert parent[v] == UNREACHED
            continue
        under = nx.descendants(nx.bfs_tree(tree, root), v) | {v}
        assert below[v] == sum(node_w[u] for u in under)


def test_roots_tied_edges_all_kept():
    # three copies of a path hang from node 9 by edges of one weight (0.5): all three kept
    tails = np.array([0, 1, 3, 4, 6, 7, 9, 9, 9])
    heads = np.array([1, 2, 4, 5, 7, 8, 0, 3, 6])
    weights = np.array([1.2, 1.7, 1.1, 1.9, 1.3, 1.4, 0.5, 0.5, 0.5])
    order, parent, below = spanning_forest(10, tails, heads, weights, 9, np.ones(10))
    assert len(order) == 10 and below[9] == 10 and below[0] == below[3] == below[6] == 3

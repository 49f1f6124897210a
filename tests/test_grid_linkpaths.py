"""The compiled group joining (geo.gridplan.linkpaths) against a plain-Python one written
here from its description, and against networkx: the towers and their links are connected,
links hold no households, and a group is refused only when networkx finds its towers
cannot all be reached through few enough free atoms."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from geo.gridplan.linkpaths import group_links


def reference(nbrs, heavy, group, max_hops):
    """Towers in turn; a breadth-first path of free atoms to what is joined; waiters retry."""
    joined, extra, todo, stall = {group[0]}, [], list(group[1:]), 0
    while todo:
        v = todo.pop(0)
        path = [] if joined & set(nbrs[v]) else None
        if path is None:
            prev, frontier = {v: None}, [v]
            for _ in range(max_hops + 1):
                nxt = []
                for x in frontier:
                    for u in nbrs[x]:
                        if u in prev:
                            continue
                        if u in joined:
                            path, y = [], x
                            while y is not None and y != v:
                                path.append(y)
                                y = prev[y]
                            break
                        if not heavy[u]:
                            prev[u] = x
                            nxt.append(u)
                    if path is not None:
                        break
                if path is not None:
                    break
                frontier = nxt
        if path is None:
            todo.append(v)
            stall += 1
            if stall > len(todo):
                return None
            continue
        stall = 0
        extra += path
        joined |= set(path) | {v}
    return extra


def case(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 70))
    g = nx.gnp_random_graph(n, rng.uniform(0.04, 0.2), seed=int(rng.integers(1e9)))
    adj = nx.to_scipy_sparse_array(g, nodelist=range(n), format="csr")
    adj = sparse.csr_array(adj)
    heavy = rng.random(n) < 0.35
    towers = np.flatnonzero(heavy).tolist()
    groups = []
    for _ in range(40):
        if len(towers) < 1:
            break
        size = int(rng.integers(1, min(5, len(towers)) + 1))
        groups.append(rng.choice(towers, size=size, replace=False).tolist())
    return g, adj, heavy, groups


@pytest.mark.parametrize("seed", range(40))
def test_equals_the_plain_python_joining(seed):
    g, adj, heavy, groups = case(seed)
    nbrs = [adj.indices[adj.indptr[v] : adj.indptr[v + 1]].tolist() for v in range(len(heavy))]
    got = group_links(adj.indptr, adj.indices, heavy, groups, 3)
    assert got == [reference(nbrs, heavy, grp, 3) for grp in groups]


def test_joined_groups_are_connected_and_refusals_are_real():
    joined = refused = 0
    for seed in range(40):
        g, adj, heavy, groups = case(seed)
        for grp, links in zip(groups, group_links(adj.indptr, adj.indices, heavy, groups, 3),
                              strict=True):
            free = [v for v in g if not heavy[v]]
            if links is None:
                # no spanning connection through free atoms at all, or one needing long paths
                sub = g.subgraph(free + grp)
                far = any(
                    not nx.has_path(sub, grp[0], t) or nx.shortest_path_length(sub, grp[0], t) > 4
                    for t in grp[1:]
                )
                assert far
                refused += 1
                continue
            assert not any(heavy[z] for z in links)
            assert nx.is_connected(g.subgraph(set(grp) | set(links)))
            joined += 1
    assert joined > 200 and refused > 20


@pytest.mark.parametrize("hops", [0, 1, 3])
def test_tower_graph_equals_walks_counted_by_matrix_products(hops):
    # near: a walk of at most hops + 1 edges whose inner atoms are free (boolean matrix powers)
    from geo.gridplan.linkpaths import tower_graph

    for seed in range(25):
        _, adj, heavy, _ = case(seed)
        a = (adj > 0).astype(np.int64)
        light = sparse.diags_array((~heavy).astype(np.int64), dtype=np.int64)
        reach, step = a.copy(), a
        for _ in range(hops):
            step = ((step @ light @ a) > 0).astype(np.int64)
            reach = reach + step
        want = (reach > 0).toarray()
        np.fill_diagonal(want, False)
        nz = np.flatnonzero(heavy)
        got = tower_graph(adj, heavy, hops)
        assert got.has_sorted_indices
        assert np.array_equal(got.toarray() > 0, want[np.ix_(nz, nz)])

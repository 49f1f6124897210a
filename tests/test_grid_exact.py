"""Every feasible community in the band, every infeasible one proved (issue 19, point 3).

Hand-built communities with known answers, and random small atom graphs
checked against a brute force over all set partitions (networkx for
connectivity), written apart from :mod:`geo.gridplan.exact`.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
import shapely
from scipy import sparse

from geo.gridplan.districting import RegionDistricting
from geo.gridplan.exact import ConnectedGrouping

LO, HI = 255.0, 345.0


def set_partitions(items):
    """Every partition of ``items`` into blocks (Bell-number many)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1 :]]
        yield [[first], *part]


def brute_force(g: nx.Graph, w) -> bool:
    """Whether the nodes split into connected blocks with households in [LO, HI]."""
    for part in set_partitions(list(g.nodes)):
        if all(
            LO <= sum(w[v] for v in block) <= HI and nx.is_connected(g.subgraph(block))
            for block in part
        ):
            return True
    return False


def lattice(rows: int, cols: int, step: float = 20.0):
    """Points of a lattice, its box, and its 4-neighbour graph (the Voronoi adjacency)."""
    pts = np.array([[c * step, r * step] for r in range(rows) for c in range(cols)], float)
    box = shapely.box(-step / 2, -step / 2, (cols - 0.5) * step, (rows - 0.5) * step)
    g = nx.grid_2d_graph(rows, cols)
    g = nx.relabel_nodes(g, {(r, c): r * cols + c for r, c in g.nodes})
    return pts, box, g


def test_contiguity_blocked_community_is_reported_with_its_reason():
    # towers of 200, 200, 100, 100 in a row: 200 + 100 twice fits the band by households,
    # but a grid is contiguous, so the 200s would have to share one (400) or stand alone (200)
    pts, box, g = lattice(1, 4)
    hh = np.array([200.0, 200, 100, 100])
    assert not brute_force(g, hh)
    rd = RegionDistricting(300, 0.15).fit(box, pts, hh)
    kinds = [d["kind"] for d in rd.infeasible_]
    assert kinds == ["no_contiguous_grouping_fits"], rd.infeasible_
    assert "contiguous" in rd.infeasible_[0]["detail"]
    assert sorted(rd.infeasible_[0]["buildings"]) == [0, 1, 2, 3]
    assert not rd.feasible_.any()  # its grids leave the feasible share
    assert rd.undecided_ == []


def test_feasible_community_through_link_buildings_is_solved_in_the_band():
    # corners hold the households, the middle of each side is a household-free link:
    # 200 and 100 on the top row join through the link between them, likewise below
    pts, box, g = lattice(3, 3)
    hh = np.zeros(9)
    hh[[0, 2, 6, 8]] = [200, 100, 100, 200]
    assert brute_force(g, hh)
    rd = RegionDistricting(300, 0.15).fit(box, pts, hh)
    assert rd.infeasible_ == [] and rd.undecided_ == []
    assert sorted(rd.households_.tolist()) == [300.0, 300.0]
    for k in range(rd.n_grids_):
        assert nx.is_connected(g.subgraph(np.flatnonzero(rd.labels_ == k).tolist()))


def _graph(g: nx.Graph) -> sparse.csr_array:
    a = nx.to_scipy_sparse_array(g, nodelist=sorted(g.nodes), format="csr")
    return sparse.csr_array(a.astype(np.int64))


@pytest.mark.parametrize("seed", range(40))
def test_exact_decision_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    rows, cols = [(2, 4), (3, 3), (2, 3), (1, 7)][seed % 4]
    _, _, g = lattice(rows, cols)
    for u, v in list(g.edges):  # thin the lattice, keeping it connected
        if rng.random() < 0.25:
            g.remove_edge(u, v)
            if not nx.is_connected(g):
                g.add_edge(u, v)
    hh = rng.choice([0, 0, 60, 100, 140, 150, 200], size=g.number_of_nodes()).astype(float)
    truth = brute_force(g, hh)
    cg = ConnectedGrouping(300, LO, HI).fit(hh, _graph(g))
    assert cg.status_ == ("feasible" if truth else "infeasible"), (seed, hh.tolist())
    if truth:
        labels = cg.labels_
        for k in np.unique(labels):
            block = np.flatnonzero(labels == k).tolist()
            assert LO <= hh[block].sum() <= HI
            assert nx.is_connected(g.subgraph(block))


def test_brute_force_oracle_itself():
    g = nx.path_graph(3)
    assert brute_force(g, [150.0, 0.0, 150.0])
    assert not brute_force(g, [150.0, 150.0, 150.0])
    assert sum(1 for _ in set_partitions([1, 2, 3, 4])) == 15
    assert list(itertools.islice(set_partitions([]), 2)) == [[]]


def test_needed_links_equal_a_brute_force_cut_check():
    # a link atom is needed by a group when removing it disconnects the group (networkx)
    from geo.gridplan.exact import NeededLinks

    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(400):
        n = int(rng.integers(3, 13))
        g = nx.gnp_random_graph(n, rng.uniform(0.15, 0.5), seed=int(rng.integers(1e9)))
        heavy = rng.random(n) < 0.4
        towers = np.flatnonzero(heavy)
        if len(towers) < 2:
            continue
        size = int(rng.integers(2, len(towers) + 1))
        group = set(rng.choice(towers, size=size, replace=False).tolist())
        allowed = [v for v in range(n) if not heavy[v] or v in group]

        def joined(nodes, g=g, group=group):
            sub = g.subgraph(nodes)
            return min(group) in sub and group <= nx.node_connected_component(sub, min(group))

        want = []
        if joined(allowed):
            want = [
                z for z in allowed if not heavy[z] and not joined([v for v in allowed if v != z])
            ]
        nbrs = [set(g.neighbors(v)) for v in range(n)]
        assert NeededLinks(nbrs, heavy)(group) == sorted(want)
        checked += bool(want)
    assert checked > 20  # the random graphs do have needed links


def test_needed_links_of_many_groups_in_one_call_equal_a_brute_force_cut_check():
    # the compiled search reuses its arrays from group to group: nothing may leak between them
    from geo.gridplan.exact import NeededLinks

    rng = np.random.default_rng(7)
    g = nx.gnp_random_graph(40, 0.12, seed=3)
    heavy = rng.random(40) < 0.5
    towers = np.flatnonzero(heavy).tolist()
    groups = [set(rng.choice(towers, size=int(rng.integers(1, 7)), replace=False).tolist())
              for _ in range(300)]

    def joined(nodes, group):
        sub = g.subgraph(nodes)
        return min(group) in sub and group <= nx.node_connected_component(sub, min(group))

    want = []
    for group in groups:
        allowed = [v for v in range(40) if not heavy[v] or v in group]
        cut = []
        if len(group) > 1 and joined(allowed, group):
            cut = [z for z in allowed
                   if not heavy[z] and not joined([v for v in allowed if v != z], group)]
        want.append(cut)
    got = NeededLinks([set(g.neighbors(v)) for v in range(40)], heavy).many(groups)
    assert got == want
    assert sum(bool(c) for c in want) > 30


def split_exists(g: nx.Graph, w) -> bool:
    """Brute force pruned by blocks: the block holding the first atom left, then the rest."""

    def rest_splits(left: frozenset) -> bool:
        if not left:
            return True
        first, others = min(left), sorted(left - {min(left)})
        for size in range(len(others) + 1):
            for more in itertools.combinations(others, size):
                block = [first, *more]
                if LO <= sum(w[v] for v in block) <= HI and nx.is_connected(g.subgraph(block)):
                    if rest_splits(left - set(block)):
                        return True
        return False

    return rest_splits(frozenset(g.nodes))


def strip(links: int) -> nx.Graph:
    """Towers 0 and 1 at the two ends of a strip of link atoms 2.. (each joined to the next two).

    Every link atom has three neighbours or more (none is reduced away), and
    the shortest route between the towers passes ``(links + 1) // 2`` of them.
    """
    g = nx.Graph()
    chain = list(range(2, 2 + links))
    for i, z in enumerate(chain):
        for step in (1, 2):
            if i + step < links:
                g.add_edge(z, chain[i + step])
    g.add_edge(0, chain[0])
    g.add_edge(1, chain[-1])
    return g


def test_towers_joined_by_a_long_route_are_split_in_the_band():
    # the two towers can only share a grid, through five link atoms or more: past the cap of 4
    g = strip(9)
    hh = np.zeros(g.number_of_nodes())
    hh[[0, 1]] = [150, 150]
    assert split_exists(g, hh)
    old = ConnectedGrouping(300, LO, HI, route_steps=0).fit(hh, _graph(g))
    assert old.status_ == "undecided"
    cg = ConnectedGrouping(300, LO, HI).fit(hh, _graph(g))
    assert cg.status_ == "feasible" and cg.proof_ is None
    assert cg.labels_.tolist() == [0] * g.number_of_nodes()


def crossing_routes() -> tuple[nx.Graph, np.ndarray]:
    """Two pairs of towers needing long routes through one strip: they would have to cross."""
    g = strip(9)
    g.add_edge(10, 2)
    g.add_edge(11, 10)
    hh = np.zeros(g.number_of_nodes())
    hh[[0, 1, 10, 11]] = [150, 150, 140, 140]
    return g, hh


def test_long_routes_that_would_cross_are_never_claimed():
    g, hh = crossing_routes()
    assert not split_exists(g, hh)
    for routes in (0, 100_000):
        cg = ConnectedGrouping(300, LO, HI, relaxation=False, route_steps=routes)
        assert cg.fit(hh, _graph(g)).status_ != "feasible"


@pytest.mark.parametrize("seed", range(30))
def test_no_claim_is_ever_false_on_link_heavy_graphs(seed):
    # few towers, many link atoms, a tight link cap: the routes' last resort is what decides
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(7, 11))
    g = nx.connected_watts_strogatz_graph(n, 4, 0.3, seed=int(rng.integers(1e9)))
    hh = np.zeros(n)
    towers = rng.choice(n, size=int(rng.integers(2, 5)), replace=False)
    hh[towers] = rng.choice([100, 140, 150, 160, 200], size=len(towers))
    truth = split_exists(g, hh)
    cg = ConnectedGrouping(300, LO, HI, link_caps=(1,), relaxation=False).fit(hh, _graph(g))
    if cg.status_ == "infeasible":
        assert not truth, (seed, hh.tolist())
    if cg.status_ == "feasible":
        assert truth
        for k in np.unique(cg.labels_):
            block = np.flatnonzero(cg.labels_ == k).tolist()
            assert LO <= hh[block].sum() <= HI
            assert nx.is_connected(g.subgraph(block))


def test_highs_debug_line_is_kept_off_standard_output(capfd):
    """The solver's stray printf is dropped; anything else written meanwhile comes out."""
    import os

    from geo.gridplan.exact import _without_highs_debug_line

    with _without_highs_debug_line():
        os.write(1, b"before ")
        os.write(1, b"HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();")
        os.write(1, b"after\n")
    out, _ = capfd.readouterr()
    assert out == "before after\n"

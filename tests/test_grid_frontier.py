"""The atom-by-atom exact split (issue 19, point 3): every feasible piece solved, the rest proved.

Checked against the brute forces of ``test_grid_exact`` (all set partitions,
networkx for connectivity), written apart from :mod:`geo.gridplan.frontier`,
on random graphs and on pieces the link-capped grouping cannot decide.
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from geo.gridplan.exact import ConnectedGrouping
from geo.gridplan.frontier import FrontierSplit, narrow_order
from geo.gridplan.partition import BalancedPartition
from geo.gridplan.proofs import ProofKind
from tests.test_grid_exact import HI, LO, _graph, crossing_routes, lattice, split_exists, strip


def assert_plan(g: nx.Graph, hh, labels) -> None:
    """Every grid of ``labels`` connected in ``g`` with households in the band."""
    assert (labels >= 0).all()
    for k in np.unique(labels):
        block = np.flatnonzero(labels == k).tolist()
        assert LO <= hh[block].sum() <= HI, (k, hh[block].sum())
        assert nx.is_connected(g.subgraph(block))


def random_piece(seed: int) -> tuple[nx.Graph, np.ndarray]:
    """A thinned lattice with households, or a small-world graph with a few towers."""
    rng = np.random.default_rng(seed)
    if seed % 2 == 0:
        _, _, g = lattice(*[(2, 4), (3, 3), (2, 5), (1, 7), (3, 4)][seed % 5])
        for u, v in list(g.edges):  # thin it, keeping it connected
            if rng.random() < 0.25:
                g.remove_edge(u, v)
                if not nx.is_connected(g):
                    g.add_edge(u, v)
        hh = rng.choice([0, 0, 60, 100, 140, 150, 200], size=g.number_of_nodes()).astype(float)
        return g, hh
    n = int(rng.integers(6, 11))
    g = nx.connected_watts_strogatz_graph(n, 4, 0.3, seed=int(rng.integers(1e9)))
    hh = np.zeros(n)
    towers = rng.choice(n, size=int(rng.integers(2, 6)), replace=False)
    hh[towers] = rng.choice([60, 100, 140, 150, 160, 200], size=len(towers))
    return g, hh


@pytest.mark.parametrize("seed", range(80))
def test_frontier_split_equals_brute_force(seed):
    g, hh = random_piece(seed)
    truth = split_exists(g, hh)
    fs = FrontierSplit(LO, HI).fit(hh, _graph(g))
    assert fs.status_ == ("feasible" if truth else "infeasible"), (seed, hh.tolist())
    if truth:
        assert_plan(g, hh, fs.labels_)
    else:
        assert fs.labels_ is None


def test_random_pieces_hold_both_answers():
    # the comparison above is only worth something if both answers occur often
    truths = [split_exists(*random_piece(seed)) for seed in range(80)]
    assert 15 <= sum(truths) <= 65


def test_households_that_are_not_whole_numbers_are_split_exactly():
    # half households (a weighting, say): no rounding may turn 254.5 into the band
    g = nx.path_graph(4)
    hh = np.array([127.25, 127.25, 150.0, 150.0])
    assert not split_exists(g, hh)
    assert FrontierSplit(LO, HI).fit(hh, _graph(g)).status_ == "infeasible"
    hh = np.array([127.5, 127.5, 150.0, 150.0])
    fs = FrontierSplit(LO, HI).fit(hh, _graph(g))
    assert fs.status_ == "feasible"
    assert_plan(g, hh, fs.labels_)


def test_a_lone_atom_and_no_atom():
    one = sparse.csr_array((1, 1))
    assert FrontierSplit(LO, HI).fit(np.array([300.0]), one).labels_.tolist() == [0]
    assert FrontierSplit(LO, HI).fit(np.array([100.0]), one).status_ == "infeasible"
    assert FrontierSplit(LO, HI).fit(np.array([400.0]), one).status_ == "infeasible"
    empty = FrontierSplit(LO, HI).fit(np.zeros(0), sparse.csr_array((0, 0)))
    assert empty.status_ == "feasible" and empty.labels_.tolist() == []


def test_crossing_long_routes_are_proved_where_the_link_cap_only_gives_up():
    g, hh = crossing_routes()
    assert not split_exists(g, hh)
    capped = ConnectedGrouping(300, LO, HI, relaxation=False).fit(hh, _graph(g))
    assert capped.status_ == "undecided"
    assert FrontierSplit(LO, HI).fit(hh, _graph(g)).status_ == "infeasible"


def test_one_long_route_is_found_without_a_link_cap():
    g = strip(15)  # the towers' shortest route passes 8 link atoms
    hh = np.zeros(g.number_of_nodes())
    hh[[0, 1]] = [150, 150]
    fs = FrontierSplit(LO, HI).fit(hh, _graph(g))
    assert fs.status_ == "feasible"
    assert fs.labels_.tolist() == [0] * g.number_of_nodes()


def test_past_its_budget_the_search_claims_nothing():
    _, _, g = lattice(4, 5)
    hh = np.resize([150.0, 0.0, 140.0, 160.0, 0.0], g.number_of_nodes())
    full = FrontierSplit(LO, HI).fit(hh, _graph(g))
    assert full.status_ in ("feasible", "infeasible") and full.states_ > 50
    cut = FrontierSplit(LO, HI, max_states=50).fit(hh, _graph(g))
    assert cut.status_ == "undecided" and cut.labels_ is None


def test_the_order_keeps_a_lattice_narrow():
    # a 6 × 12 lattice can be swept keeping one column (6 atoms) open, plus the one being taken
    _, _, g = lattice(6, 12)
    a = _graph(g)
    nbrs = [set(a.indices[a.indptr[v] : a.indptr[v + 1]].tolist()) for v in range(a.shape[0])]
    order = narrow_order(nbrs)
    assert sorted(order) == list(range(72))
    fs = FrontierSplit(LO, HI).fit(np.zeros(72), a)
    assert fs.width_ <= 7


def demo_piece(name: str = "grid_piece_towers.json") -> tuple[np.ndarray, sparse.csr_array]:
    """A piece of a tower community a demo left undecided (by default the city's, 38 buildings)."""
    data = json.loads((Path(__file__).parent / "fixtures" / name).read_text())
    w = np.array(data["households"], dtype=float)
    u, v = np.array(data["edges"]).T
    n = len(w)
    adj = sparse.coo_array((np.ones(2 * len(u)), (np.r_[u, v], np.r_[v, u])), shape=(n, n))
    return w, sparse.csr_array(adj)


def test_a_piece_the_grouping_left_undecided_is_proved_by_the_partition():
    w, adj = demo_piece()
    assert len(w) == 38 and (w > 0).sum() == 20
    capped = ConnectedGrouping(300, LO, HI, relaxation=False, max_sets=8_000, max_steps=60_000)
    assert capped.fit(w, adj).status_ == "undecided"
    bp = BalancedPartition(300).fit(w, adj)
    (case,) = bp.infeasible_
    assert case["kind"] == ProofKind.NO_CONTIGUOUS_GROUPING_FITS
    assert "atom by atom" in case["detail"], case
    assert bp.undecided_ == [] and not bp.part_feasible_.any()
    # and with a search too small to finish, it stays undecided: nothing is claimed
    small = BalancedPartition(300, frontier_states=1_000, solver_work=0).fit(w, adj)
    assert small.infeasible_ == [] and len(small.undecided_) == 1

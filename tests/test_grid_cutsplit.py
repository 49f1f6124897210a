"""The split at a cut building (issue 19, point 3): each side alone, the cut grid shared.

Checked against the brute force of ``test_grid_exact`` (all set partitions,
networkx for connectivity), written apart from :mod:`geo.gridplan.cutsplit`,
on random pieces joined at a cut atom, and on the large demo's 201-building
piece that neither the frontier search nor the constraint solver decides.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from geo.gridplan.cutsplit import most_balanced_cut, pendant_split, split_at_cut
from geo.gridplan.exactsplit import split_exactly
from geo.gridplan.frontier import FrontierSplit
from geo.gridplan.partition import BalancedPartition
from geo.gridplan.proofs import ProofKind
from tests.test_grid_exact import HI, LO, _graph, split_exists
from tests.test_grid_frontier import assert_plan, demo_piece, random_piece


class _Exact:
    """The frontier search as the sides' oracle (it decides these small sides exactly)."""

    def __init__(self):
        self.asked = 0

    def __call__(self, w, adj):
        self.asked += 1
        fs = FrontierSplit(LO, HI).fit(w, adj)
        assert fs.status_ != "undecided"
        return type("Verdict", (), {"status": fs.status_, "labels": fs.labels_})


def joined_at_a_cut(seed: int) -> tuple[nx.Graph, np.ndarray]:
    """Two or three small random pieces, each tied to one new atom (the cut) by one or two edges."""
    rng = np.random.default_rng(seed)
    g, hh = nx.Graph(), []
    sides = int(rng.integers(2, 4))
    while sides and (sides > 1 or len(hh) + 6 <= 14):  # pieces have 6 atoms or more
        piece, w = random_piece(int(rng.integers(1e6)))
        n = piece.number_of_nodes()
        if n > 7 or len(hh) + n > 14:  # the brute force stays fast
            continue
        first = len(hh)
        g.add_nodes_from(range(first, first + n))
        g.add_edges_from((first + u, first + v) for u, v in piece.edges)
        hh.extend(w.tolist())
        g.add_edges_from(("cut", first + int(t)) for t in rng.choice(n, size=2))
        sides -= 1
    g = nx.relabel_nodes(g, {"cut": len(hh)})
    hh.append(float(rng.choice([0, 0, 0, 60, 100])))
    return g, np.asarray(hh, dtype=float)


@pytest.mark.parametrize("seed", range(60))
def test_split_at_cut_never_claims_what_the_brute_force_denies(seed):
    g, hh = joined_at_a_cut(seed)
    assert most_balanced_cut(g) is not None
    truth = split_exists(g, hh)
    got = split_at_cut(hh, _graph(g), LO, HI, _Exact())
    assert got is not None
    if got.status == "feasible":
        assert truth
        assert_plan(g, hh, got.labels)
    elif got.status == "infeasible":
        assert not truth, (seed, hh.tolist())
    else:  # the sides split apart but the joining search found no common share
        assert got.labels is None


def test_split_at_cut_decides_most_random_pieces_both_ways():
    # windows as wide as the band bound each side's share only roughly: a piece whose shares
    # fall in windows that could add up, but do not, stays undecided (17 of these 60 do)
    pieces = map(joined_at_a_cut, range(60))
    got = [split_at_cut(hh, _graph(g), LO, HI, _Exact()) for g, hh in pieces]
    feasible = sum(v.status == "feasible" for v in got)
    infeasible = sum(v.status == "infeasible" for v in got)
    assert feasible >= 10 and infeasible >= 30


def test_a_side_no_share_can_complete_proves_the_piece_infeasible():
    # side A: a path 300, 0, 0, 0 to the cut (0); side B: a link atom at the cut with two
    # towers of 200 hanging on it: whatever the cut grid takes of B, a 200 is left alone
    g = nx.Graph([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (5, 7)])
    hh = np.array([300.0, 0, 0, 0, 0, 0, 200, 200])
    assert most_balanced_cut(g) == 3  # sides of 3 and 4 atoms (the cut at 4 ties: the first)
    got = split_at_cut(hh, _graph(g), LO, HI, _Exact())
    assert got.status == "infeasible" and "4 buildings on one side" in got.how
    assert not split_exists(g, hh)


def test_shares_that_cannot_add_up_prove_it_and_shares_that_do_are_joined():
    g = nx.path_graph(4)  # 200 | cut | 100, 100: each side gives 180 or more, 360 > 345
    hh = np.array([200.0, 0, 100, 100])
    got = split_at_cut(hh, _graph(g), LO, HI, _Exact())
    assert got.status == "infeasible" and "never adds up" in got.how
    assert not split_exists(g, hh)
    hh = np.array([200.0, 0, 100, 300])  # 200 + cut + 100 through the cut, 300 alone
    got = split_at_cut(hh, _graph(g), LO, HI, _Exact())
    assert got.status == "feasible" and got.labels.tolist() == [0, 0, 0, 1]


def test_a_cut_with_many_sides_is_not_combined_window_by_window():
    # a link building with 13 sides hung on it, each two towers of 150 in a row: each side
    # gives the cut grid nothing or 300, so 2^13 window combinations, past the limit: they are
    # not all looked at, and the first that adds up (one side's 300) is joined
    g = nx.Graph()
    for s in range(13):
        g.add_edges_from([(0, 2 * s + 1), (2 * s + 1, 2 * s + 2)])
    hh = np.r_[0.0, np.full(26, 150.0)]
    asked = _Exact()
    got = split_at_cut(hh, _graph(g), LO, HI, asked)
    assert got.status == "feasible" and asked.asked == 13 * 4  # joined as found: no more asks
    assert_plan(g, hh, got.labels)
    assert len(set(got.labels.tolist())) == 13  # one side's pair with the cut, the others alone


def test_no_cut_no_band_no_answer():
    assert split_at_cut(np.full(4, 150.0), _graph(nx.cycle_graph(4)), LO, HI, _Exact()) is None
    assert split_at_cut(np.full(3, 150.0), _graph(nx.path_graph(3)), 0, HI, _Exact()) is None
    assert most_balanced_cut(nx.cycle_graph(5)) is None
    assert most_balanced_cut(nx.path_graph(5)) == 2


def test_pendants_each_hold_less_than_the_lower_bound_and_all_of_the_load():
    for load in (0.0, 0.01, 75.0, 254.99, 255.0, 300.5, 345.0, 1000.0):
        parts = pendant_split(load, LO)
        assert all(0 < p < LO for p in parts)
        assert sum(parts) == pytest.approx(load) and all(round(p * 100) == p * 100 for p in parts)


def test_the_large_demos_cut_piece_is_proved_side_by_side():
    w, adj = demo_piece("grid_piece_cut.json")
    assert len(w) == 201 and (w > 0).sum() == 97
    plain = split_exactly(w, adj, LO, HI, at_cuts=False)
    assert plain.status == "undecided" and "more than the constraint solver takes" in plain.how
    verdict = split_exactly(w, adj, LO, HI)
    assert verdict.status == "infeasible" and "cut building" in verdict.how
    assert verdict.states > plain.states  # the sides' searches are counted too


def test_the_partition_reports_the_cut_piece_with_its_reason():
    w, adj = demo_piece("grid_piece_cut.json")
    bp = BalancedPartition(300).fit(w, adj)
    assert not bp.undecided_
    (why,) = bp.infeasible_
    assert why["kind"] == ProofKind.NO_CONTIGUOUS_GROUPING_FITS and "cut building" in why["detail"]

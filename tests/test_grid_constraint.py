"""The constraint solver's exact split (issue 19, point 3): the pieces the frontier cannot finish.

Checked against the brute force of ``test_grid_exact`` (all set partitions,
networkx for connectivity), written apart from :mod:`geo.gridplan.constraint`,
on random graphs, and on a piece of the large demo that the atom-by-atom search
leaves undecided past 3,000,000 states.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy import sparse

from geo.gridplan.constraint import ConstraintSplit
from geo.gridplan.exactsplit import SearchBudget, split_exactly
from geo.gridplan.partition import BalancedPartition
from geo.gridplan.proofs import ProofKind
from tests.test_grid_exact import HI, LO, _graph, crossing_routes, lattice, split_exists, strip
from tests.test_grid_frontier import assert_plan, demo_piece, random_piece


@pytest.mark.parametrize("seed", range(80))
def test_constraint_split_equals_brute_force(seed):
    g, hh = random_piece(seed)
    truth = split_exists(g, hh)
    cs = ConstraintSplit(LO, HI).fit(hh, _graph(g))
    assert cs.status_ == ("feasible" if truth else "infeasible"), (seed, hh.tolist())
    if truth:
        assert_plan(g, hh, cs.labels_)
    else:
        assert cs.labels_ is None


def test_households_in_hundredths_are_exact_and_finer_ones_are_not_claimed():
    g = nx.path_graph(4)
    hh = np.array([127.25, 127.25, 150.0, 150.0])  # 254.5 must not round into the band
    assert not split_exists(g, hh)
    assert ConstraintSplit(LO, HI).fit(hh, _graph(g)).status_ == "infeasible"
    hh = np.array([127.5, 127.5, 150.0, 150.0])
    cs = ConstraintSplit(LO, HI).fit(hh, _graph(g))
    assert cs.status_ == "feasible"
    assert_plan(g, hh, cs.labels_)
    thirds = np.array([127 + 1 / 3, 127 + 2 / 3, 150.0, 150.0])
    assert ConstraintSplit(LO, HI).fit(thirds, _graph(g)).status_ == "undecided"
    # a band from 0 would let a grid hold no households: the model cannot say, so it does not
    assert ConstraintSplit(0, HI).fit(np.array([0.0, 0, 300, 0]), _graph(g)).status_ == (
        "undecided"
    )


def test_long_routes_crossing_or_alone():
    g, hh = crossing_routes()  # two routes that would have to cross: no split
    assert ConstraintSplit(LO, HI).fit(hh, _graph(g)).status_ == "infeasible"
    g = strip(15)  # one route through 8 link atoms: found
    hh = np.zeros(g.number_of_nodes())
    hh[[0, 1]] = [150, 150]
    cs = ConstraintSplit(LO, HI).fit(hh, _graph(g))
    assert cs.status_ == "feasible" and set(cs.labels_.tolist()) == {0}


def test_a_lone_atom_no_atom_and_an_atom_no_grid_can_hold():
    one = sparse.csr_array((1, 1))
    assert ConstraintSplit(LO, HI).fit(np.array([300.0]), one).labels_.tolist() == [0]
    assert ConstraintSplit(LO, HI).fit(np.array([100.0]), one).status_ == "infeasible"
    empty = ConstraintSplit(LO, HI).fit(np.zeros(0), sparse.csr_array((0, 0)))
    assert empty.status_ == "feasible" and empty.labels_.tolist() == []
    g = nx.path_graph(3)  # the middle tower is over the band: nothing can hold it
    assert ConstraintSplit(LO, HI).fit(np.array([300.0, 400, 300]), _graph(g)).status_ == (
        "infeasible"
    )


def test_the_same_budget_gives_the_same_answer_and_past_it_nothing_is_claimed():
    w, adj = demo_piece()
    a = ConstraintSplit(LO, HI).fit(w, adj)
    b = ConstraintSplit(LO, HI).fit(w, adj)
    assert a.status_ == b.status_ == "infeasible" and a.work_ == b.work_ > 0
    cut = ConstraintSplit(LO, HI, max_work=1e-4).fit(w, adj)
    assert cut.status_ == "undecided" and cut.labels_ is None


def solver_piece() -> tuple[np.ndarray, sparse.csr_array]:
    """A piece of a tower community of the large demo the frontier search leaves undecided."""
    return demo_piece("grid_piece_solver.json")


def test_a_piece_the_frontier_cannot_finish_is_proved_by_the_partition():
    w, adj = solver_piece()
    assert len(w) == 56 and (w > 0).sum() == 23
    bp = BalancedPartition(300).fit(w, adj)
    (case,) = bp.infeasible_
    assert case["kind"] == ProofKind.NO_CONTIGUOUS_GROUPING_FITS
    assert "constraint solver" in case["detail"], case
    assert bp.undecided_ == [] and not bp.part_feasible_.any()


def test_the_chain_says_which_budget_ran_out():
    w, adj = demo_piece()  # the frontier proves it with 25,305 states, the solver at once
    assert "atom by atom" in split_exactly(w, adj, LO, HI).how
    solved = split_exactly(w, adj, LO, HI, states=1_000)
    assert solved.status == "infeasible" and "constraint solver" in solved.how
    assert solved.states == 1_000 and solved.work > 0
    none = split_exactly(w, adj, LO, HI, states=1_000, work=0)
    assert none.status == "undecided" and "no work left" in none.how
    big = split_exactly(w, adj, LO, HI, states=1_000, max_atoms=30)
    assert big.status == "undecided" and "38 buildings" in big.how
    budget = SearchBudget(states=1_500, work=1.0)
    assert budget.ask(w, adj, LO, HI).status == "infeasible"
    assert budget.states == 0 and 0 < budget.work < 1.0  # all its states, some of its work


def test_the_partition_with_no_work_for_the_solver_stays_undecided():
    w, adj = demo_piece()
    small = BalancedPartition(300, frontier_states=1_000, solver_work=0).fit(w, adj)
    assert small.infeasible_ == [] and len(small.undecided_) == 1
    assert "no work left" in small.undecided_[0]["detail"]
    proved = BalancedPartition(300, frontier_states=1_000).fit(w, adj)
    assert "constraint solver" in proved.infeasible_[0]["detail"]


def test_the_evaluation_settles_by_redistricting_before_searching():
    # corners hold 200/100/100/200 households on a 3 × 3 lattice: the redistricting's heuristics
    # split it inside the band, so no record and nothing spent, even with no budget at all
    from geo.gridplan.districting import grouping_verdict

    pts, box, g = lattice(3, 3)
    hh = np.zeros(9)
    hh[[0, 2, 6, 8]] = [200, 100, 100, 200]
    assert split_exists(g, hh)
    spent = SearchBudget(states=0, work=0)
    assert grouping_verdict(box, pts, hh, None, 300, 0.15, spent) == []


def test_the_evaluation_keeps_to_its_budgets():
    # 200/120/50/80/200 households on a 5 × 5 lattice: a split fits (no record, as the brute
    # force says), but the heuristics miss it and only the exact searches can tell; with nothing
    # left the piece is undecided, nothing spent
    from geo.gridplan.districting import grouping_verdict

    pts, box, g = lattice(5, 5)
    hh = np.zeros(25)
    hh[[7, 24, 23, 14, 8]] = [200, 120, 50, 80, 200]
    east = {8, 13, 18, 19, 24}  # a split that fits: 200 + 120 down column 3, the rest 330
    for block in (east, set(range(25)) - east):
        assert LO <= hh[list(block)].sum() <= HI and nx.is_connected(g.subgraph(block))
    full = SearchBudget()
    assert grouping_verdict(box, pts, hh, None, 300, 0.15, full) == []
    assert 0 < full.states < SearchBudget().states
    spent = SearchBudget(states=0, work=0)
    (v,) = grouping_verdict(box, pts, hh, None, 300, 0.15, spent)
    assert v["kind"] == "undecided" and "no states left" in v["detail"]
    assert spent.states == 0 and spent.work == 0
    few = SearchBudget(states=3, work=0)
    (v,) = grouping_verdict(box, pts, hh, None, 300, 0.15, few)
    assert v["kind"] == "undecided" and "no work left" in v["detail"] and few.states == 0
    solver = SearchBudget(states=3, work=5.0)
    assert grouping_verdict(box, pts, hh, None, 300, 0.15, solver) == []
    assert 0 < solver.work < 5.0

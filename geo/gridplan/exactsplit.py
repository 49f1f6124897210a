"""The exact searches for a contiguous split, one after the other, with their budgets.

First the atom-by-atom frontier search (:class:`~geo.gridplan.frontier.FrontierSplit`,
a budget of states), then, on pieces small enough, the constraint solver
(:class:`~geo.gridplan.constraint.ConstraintSplit`, a budget of deterministic
work). Each answers exactly or says it ran out; the first exact answer stands.
A piece both leave undecided that has a cut building is then asked side by side
(:mod:`geo.gridplan.cutsplit`) with budgets as large again, the two searches on
each side. The redistricting and the evaluation both ask this, so they agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.gridplan.constraint import MAX_ATOMS, WORK, ConstraintSplit
from geo.gridplan.cutsplit import split_at_cut
from geo.gridplan.frontier import FEASIBLE, INFEASIBLE, STATES, UNDECIDED, FrontierSplit


@dataclass(frozen=True)
class SplitVerdict:
    """What the exact searches found on one piece.

    ``status`` is ``"feasible"`` (``labels`` a split inside the band),
    ``"infeasible"`` (``how`` says which search proved it) or ``"undecided"``
    (``how`` says which budgets ran out); ``states`` and ``work`` are what was spent.
    """

    status: str
    labels: np.ndarray | None
    how: str
    states: int
    work: float


@dataclass
class SearchBudget:
    """What the exact searches may still spend over several pieces (an evaluation's)."""

    states: int = STATES
    work: float = WORK

    def ask(self, w, adj, lo: float, hi: float, at_cuts: bool = True) -> SplitVerdict:
        """:func:`split_exactly` within one piece's budgets and what is left; spent is taken off."""
        verdict = split_exactly(
            w, adj, lo, hi, min(STATES, self.states), min(WORK, max(self.work, 0.0)),
            at_cuts=at_cuts,
        )
        self.states -= verdict.states
        self.work -= verdict.work
        return verdict


def split_exactly(
    w, adj, lo: float, hi: float, states: int = STATES, work: float = WORK,
    max_atoms: int = MAX_ATOMS, at_cuts: bool = True,
) -> SplitVerdict:
    """Ask the frontier search with ``states``, then the solver with ``work`` (≤ ``max_atoms``).

    Still undecided, and ``at_cuts``: the sides of a cut building, within
    ``states`` and ``work`` again (all sides together).
    """
    verdict = _one_after_the_other(w, adj, lo, hi, states, work, max_atoms)
    if verdict.status != UNDECIDED or not at_cuts or states <= 0:
        return verdict
    budget = SearchBudget(states, work)
    cut = split_at_cut(
        w, adj, lo, hi, lambda sw, sadj: budget.ask(sw, sadj, lo, hi, at_cuts=False)
    )
    spent_states = verdict.states + states - budget.states
    spent_work = verdict.work + work - budget.work
    if cut is None or cut.status == UNDECIDED:
        how = verdict.how if cut is None else f"{verdict.how}; {cut.how}"
        return SplitVerdict(UNDECIDED, None, how, spent_states, spent_work)
    return SplitVerdict(cut.status, cut.labels, cut.how, spent_states, spent_work)


def _one_after_the_other(w, adj, lo, hi, states, work, max_atoms) -> SplitVerdict:
    if states <= 0:
        return SplitVerdict(UNDECIDED, None, "no states left for the atom-by-atom search", 0, 0.0)
    fs = FrontierSplit(lo, hi, max_states=states).fit(w, adj)
    spent = min(fs.states_, states)
    if fs.status_ == INFEASIBLE:
        how = f"every contiguous split checked atom by atom ({fs.states_:,} states)"
        return SplitVerdict(INFEASIBLE, None, how, spent, 0.0)
    if fs.status_ == FEASIBLE:
        return SplitVerdict(FEASIBLE, fs.labels_, "", spent, 0.0)
    tried = f"more than {states:,} states atom by atom"
    if len(w) > max_atoms:
        how = f"{tried}; {len(w)} buildings, more than the constraint solver takes ({max_atoms})"
        return SplitVerdict(UNDECIDED, None, how, spent, 0.0)
    if work <= 0:
        how = f"{tried}; no work left for the constraint solver"
        return SplitVerdict(UNDECIDED, None, how, spent, 0.0)
    cs = ConstraintSplit(lo, hi, max_work=work).fit(w, adj)
    if cs.status_ == INFEASIBLE:
        how = f"every contiguous split ruled out by a constraint solver ({cs.work_:.1f} work units)"
        return SplitVerdict(INFEASIBLE, None, how, spent, cs.work_)
    if cs.status_ == FEASIBLE:
        return SplitVerdict(FEASIBLE, cs.labels_, "", spent, cs.work_)
    how = f"{tried}; the constraint solver past {work:g} work units"
    return SplitVerdict(UNDECIDED, None, how, spent, cs.work_)

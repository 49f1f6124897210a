"""Exact split of a piece at a cut building: each side on its own, the grid through the cut shared.

A *cut* atom is one whose removal disconnects the piece into *sides*. Every
grid but one lies inside one side: a connected grid that reaches two sides
passes the cut, so only the grid holding the cut atom (the *cut grid*) spans
sides, and its share of each side is connected to the cut atom. So a side can
be asked alone, with the cut atom and the cut grid's households from the other
sides stood in for by *pendant* atoms: atoms hung on the cut atom only, each
with fewer households than the band's lower bound, so that none can be a grid
alone and all of them join the cut grid. With pendants holding ``y``
households, a split of side + cut + pendants exists exactly when the cut grid
can take from that side households ``x`` with ``lo - w_cut - y <= x <= hi -
w_cut - y``: a *window* of ``x`` as wide as the band.

- **Proof.** A few windows cover every share a side could give, ``0`` to
  ``hi - w_cut``. When the exact searches prove every window of one side
  infeasible, no share of that side works, and the piece has no split.
- **Plan.** A split of each side but the last (its first window that fits),
  then the last side with pendants holding what the others gave the cut grid;
  put together, checked, and returned.

The sides are smaller than the piece, and a side that has no split at all is
often proved in a few thousand states where the whole piece overflows every
budget (the large demo's 201-building 370303008003: its 90-building side,
whatever the cut grid takes of it, in 6,233 states each).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import numpy as np
from scipy import sparse

from geo.gridplan.exact import neighbours, plan_fits
from geo.gridplan.frontier import FEASIBLE, INFEASIBLE, UNDECIDED

SCALE = 100  # pendant households are set in hundredths, as integers
MAX_JOINS = 4  # combinations of the sides' splits tried when their shares do not add up as found
MAX_COMBINATIONS = 4_096  # of the sides' windows looked at (four windows each: six sides);
# past it the shares are not proved apart, and only the first combinations are joined


@dataclass(frozen=True)
class CutVerdict:
    """What the sides said: ``status``, a split ``labels`` when feasible, ``how`` in words."""

    status: str
    labels: np.ndarray | None
    how: str


Ask = Callable[[np.ndarray, sparse.csr_array], object]  # -> .status, .labels (a SplitVerdict)


def split_at_cut(w, adj, lo: float, hi: float, ask: Ask) -> CutVerdict | None:
    """Decide a piece through its most balanced cut atom; None when it has none (or no band).

    ``ask(w, adj)`` decides one side (an exact search with its budgets) and
    returns an object with ``status`` and ``labels``.
    """
    w = np.asarray(w, dtype=float)
    adj = sparse.csr_array(adj)
    if lo <= 0 or hi <= lo or len(w) < 3:
        return None
    graph = nx.from_scipy_sparse_array(adj)
    graph.remove_edges_from(list(nx.selfloop_edges(graph)))
    cut = most_balanced_cut(graph)
    if cut is None or w[cut] > hi:
        return None
    sides = sorted((sorted(s) for s in _sides(graph, cut)), key=lambda s: (len(s), s))
    room = (lo - w[cut], hi - w[cut])  # what the sides may give the cut grid together
    windows = []  # per side: (status, low, high, share, side labels) of every load
    for side in sides:
        windows.append(_windows(w, adj, side, cut, lo, hi, ask))
        if all(status == INFEASIBLE for status, *_ in windows[-1]):
            return CutVerdict(
                INFEASIBLE,
                None,
                f"the {len(side)} buildings on one side of a cut building fit no split, whatever "
                f"the grid through the cut takes of them ({len(windows[-1])} searches)",
            )
    open_ = [[x for x in side if x[0] != INFEASIBLE] for side in windows]
    every = math.prod(map(len, open_)) <= MAX_COMBINATIONS  # else a cut with many sides
    if every and not any(_adds_up(combo, room) for combo in itertools.product(*open_)):
        return CutVerdict(
            INFEASIBLE,
            None,
            f"what the {len(sides)} sides of a cut building can each give the grid through it "
            f"never adds up to the band ({sum(map(len, windows))} searches)",
        )
    return _join(w, adj, lo, hi, cut, sides, open_, room, ask)


def _windows(w, adj, side, cut, lo, hi, ask) -> list[tuple]:
    """Every window of one side: (status, lowest and highest share, share, side labels)."""
    out = []
    for load in pendant_loads(w[cut], lo, hi):
        sub = _Side(w, adj, side, cut, load, lo)
        verdict = ask(sub.w, sub.adj)
        share, labels = sub.share(verdict.labels) if verdict.status == FEASIBLE else (None, None)
        low, high = max(lo - w[cut] - load, 0.0), hi - w[cut] - load
        out.append((verdict.status, low, high, share, labels))
    return out


def _adds_up(combo, room) -> bool:
    """Whether shares within these windows could add up to ``room``."""
    return sum(x[1] for x in combo) <= room[1] + 1e-9 and sum(x[2] for x in combo) >= room[0] - 1e-9


def _join(w, adj, lo, hi, cut, sides, open_, room, ask) -> CutVerdict:
    """A split put together from the sides' splits whose shares add up to the band.

    Shares that add up as found are joined at once; otherwise the last side is
    asked again with pendants holding what the others gave (a few combinations).
    """
    found = [[x for x in side if x[0] == FEASIBLE] for side in open_]
    combos = list(itertools.islice(
        (c for c in itertools.product(*found) if _adds_up(c, room)), MAX_COMBINATIONS
    ))
    for combo in combos:
        total = w[cut] + sum(x[3] for x in combo)
        if lo - 1e-9 <= total <= hi + 1e-9:
            return _checked(w, adj, lo, hi, cut, sides, [x[4] for x in combo])
    for combo in combos[:MAX_JOINS]:
        given = sum(x[3] for x in combo[:-1])
        last = _Side(w, adj, sides[-1], cut, given, lo)
        verdict = ask(last.w, last.adj)
        if verdict.status == FEASIBLE:
            plans = [x[4] for x in combo[:-1]] + [last.share(verdict.labels)[1]]
            return _checked(w, adj, lo, hi, cut, sides, plans)
    return CutVerdict(UNDECIDED, None, "the sides of a cut building split apart but not together")


def _checked(w, adj, lo, hi, cut, sides, plans) -> CutVerdict:
    """The sides' grids and the cut grid as one split, claimed only once checked."""
    labels = np.full(len(w), -1, dtype=np.int64)
    labels[cut] = 0
    grids = 1
    for side, side_labels in zip(sides, plans, strict=True):
        labels[side] = np.where(side_labels < 0, 0, side_labels + grids)
        grids += int(side_labels.max()) + 1
    _, labels = np.unique(labels, return_inverse=True)
    if not plan_fits(labels, w, neighbours(adj, len(w)), lo, hi):
        return CutVerdict(UNDECIDED, None, "the joined split did not check")
    return CutVerdict(FEASIBLE, labels, "")


class _Side:
    """One side with the cut atom (last but the pendants) and pendants holding ``load``."""

    def __init__(self, w, adj, side, cut, load, lo):
        pendants = pendant_split(load, lo)
        nodes = [*side, cut]
        n, k = len(nodes), len(pendants)
        self.n_side = len(side)
        sub = sparse.coo_array(adj[nodes][:, nodes])
        rows = np.r_[sub.row, np.full(k, n - 1), n + np.arange(k)]
        cols = np.r_[sub.col, n + np.arange(k), np.full(k, n - 1)]
        self.adj = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=(n + k, n + k))
        self.w = np.r_[w[nodes], pendants]
        self._side_w = w[side]

    def share(self, labels) -> tuple[float, np.ndarray]:
        """Households the cut grid takes of the side, and the side's grids (-1: the cut grid)."""
        labels = np.asarray(labels)
        at_cut = labels[self.n_side]
        mine = labels[: self.n_side]
        shared = mine == at_cut
        others = np.unique(mine[~shared])
        out = np.full(self.n_side, -1, dtype=np.int64)
        out[~shared] = np.searchsorted(others, mine[~shared])
        return float(self._side_w[shared].sum()), out


def most_balanced_cut(graph: nx.Graph) -> int | None:
    """The cut atom whose largest side is smallest (None when the graph has none)."""
    best, size = None, math.inf
    for cut in sorted(nx.articulation_points(graph)):
        largest = max(len(c) for c in _sides(graph, cut))
        if largest < size:
            best, size = cut, largest
    return best


def _sides(graph: nx.Graph, cut: int) -> list[set]:
    """The connected pieces ``graph`` falls into without ``cut``."""
    return list(nx.connected_components(nx.restricted_view(graph, [cut], [])))


def pendant_loads(w_cut: float, lo: float, hi: float) -> list[float]:
    """Pendant households whose windows cover every share ``0..hi - w_cut`` a side can give.

    Examples
    --------
    >>> pendant_loads(0.0, 255, 345)
    [255.0, 165.0, 75.0, 0.0]
    >>> pendant_loads(300.0, 255, 345)
    [0.0]
    """
    load = max(lo - w_cut, 0.0)
    loads = [float(load)]
    while load > 0:
        load = max(load - (hi - lo), 0.0)
        loads.append(float(load))
    return loads


def pendant_split(load: float, lo: float) -> list[float]:
    """``load`` households over as few pendants as hold fewer than ``lo`` each (none for 0).

    Kept in hundredths, so the constraint solver takes them as they are.

    Examples
    --------
    >>> pendant_split(255.0, 255), pendant_split(75.0, 255), pendant_split(0.0, 255)
    ([127.5, 127.5], [75.0], [])
    """
    total = round(load * SCALE)
    if total <= 0:
        return []
    most = math.ceil(lo * SCALE) - 1  # the most one pendant may hold
    k = -(-total // most)
    parts = [total // k + (i < total % k) for i in range(k)]
    return [p / SCALE for p in parts]

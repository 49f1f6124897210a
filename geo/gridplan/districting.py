"""Redistricting of one region (a community minus its locked grids).

Buildings → atoms (buildings at one point merge) → cells and graph → balanced
contiguous partition → grid polygons tiling the region.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geo.gridplan.exact import neighbours, plan_fits
from geo.gridplan.exactsplit import SearchBudget
from geo.gridplan.packing import grouping_problem
from geo.gridplan.partition import BalancedPartition, choose_parts
from geo.gridplan.polygons import dissolve, give_away_orphans, share_leftover
from geo.gridplan.proofs import PROVED_KINDS
from geo.gridplan.quickproof import QuickProof, no_contiguous
from geo.gridplan.settings import band
from geo.gridplan.tessellation import build_graph, dedupe_points


class RegionDistricting:
    """Draw grids of about ``target`` households over one region.

    Parameters
    ----------
    target, tolerance, seed : see :class:`BalancedPartition`
    barrier_weight : float
        Share of weight kept by building pairs across an arterial road or river.
    n_parts : int, optional
        Force the number of grids (used by ``split``).

    Attributes
    ----------
    labels_ : ndarray of int
        Grid of each building (0..n_grids_-1).
    polygons_ : ndarray of MultiPolygon
        Grid polygons (metric), tiling the region.
    households_ : ndarray
        Households per grid.
    feasible_ : ndarray of bool
        False for grids that cannot be inside the band: a building alone above
        the upper bound, and every grid of a region whose households fit no
        number of grids or cannot be grouped into the band at all
        (:func:`~geo.gridplan.packing.grouping_problem`).
    infeasible_ : list of dict
        ``{"kind", "detail", "buildings"}`` with building indices.
    undecided_ : list of dict
        ``{"detail", "buildings"}``: buildings whose grids stay outside the band
        although no proof says they must (the exact decision ran out of budget).

    Examples
    --------
    >>> import shapely
    >>> pts = np.array([[x, y] for x in range(0, 100, 10) for y in range(0, 60, 10)], float)
    >>> rd = RegionDistricting(target=300).fit(shapely.box(-5, -5, 95, 55), pts, np.full(60, 20))
    >>> rd.n_grids_, sorted(rd.households_.tolist())
    (4, [300.0, 300.0, 300.0, 300.0])
    >>> round(sum(p.area for p in rd.polygons_))
    6000
    """

    def __init__(
        self,
        target: float = 300,
        tolerance: float = 0.15,
        seed: int = 0,
        barrier_weight: float = 0.02,
        n_parts: int | None = None,
    ):
        self.target = target
        self.tolerance = tolerance
        self.seed = seed
        self.barrier_weight = barrier_weight
        self.n_parts = n_parts

    def fit(self, region, points, households, barriers=None) -> RegionDistricting:
        """Partition the buildings at ``points`` (metric) with ``households`` over ``region``."""
        households = np.asarray(households, dtype=float)
        atoms, atom_of = dedupe_points(points)
        atom_w = np.bincount(atom_of, households, minlength=len(atoms))
        graph = build_graph(atoms, region, barriers, self.barrier_weight)
        part = self._partition(graph, atom_w)
        polys = dissolve(graph.cells, part.labels_, part.n_parts_)
        polys = share_leftover(polys, graph.leftover, atoms, part.labels_)
        polys = give_away_orphans(polys, atoms, part.labels_)
        self.graph_ = graph
        self.atom_of_ = atom_of
        self.labels_ = part.labels_[atom_of]
        self.n_grids_ = part.n_parts_
        self.polygons_ = polys
        self.households_ = part.part_weights_
        self.feasible_ = part.part_feasible_
        self.infeasible_ = [
            {
                "kind": d["kind"],
                "detail": d["detail"],
                "buildings": np.flatnonzero(np.isin(atom_of, d["atoms"])).tolist(),
            }
            for d in part.infeasible_
        ]
        self.undecided_ = [
            {
                "detail": d["detail"],
                "buildings": np.flatnonzero(np.isin(atom_of, d["atoms"])).tolist(),
            }
            for d in part.undecided_
        ]
        self._check_grouping(households)
        return self

    def get_params(self) -> dict:
        """The constructor's arguments (a fresh copy fits the same way)."""
        return {
            "target": self.target,
            "tolerance": self.tolerance,
            "seed": self.seed,
            "barrier_weight": self.barrier_weight,
            "n_parts": self.n_parts,
        }

    def slim(self) -> RegionDistricting:
        """Drop the building graph (cells, adjacency) once the crossing share is kept.

        What a caller reads after a fit stays; a worker process hands back less.
        """
        self.crossing_share_ = self.crossing_share()
        self.graph_ = None
        return self

    def _check_grouping(self, households) -> None:
        """Mark every grid infeasible when no grouping of the households fits the band."""
        if self.n_parts is not None:  # a forced count (split) is judged by the caller
            return
        lo, hi = band(self.target, self.tolerance)
        inside = (self.households_ >= lo) & (self.households_ <= hi)
        if inside[self.feasible_].all():  # the plan itself shows a grouping exists
            return
        problem = grouping_problem(households, lo, hi)
        if problem is None:
            return
        self.feasible_ = np.zeros_like(self.feasible_)
        if not any(d["kind"] in PROVED_KINDS for d in self.infeasible_):
            self.infeasible_.append(problem)

    def _partition(self, graph, atom_w) -> BalancedPartition:
        """Partition, cutting barriers where each side fits on its own.

        If that leaves grids outside the band, the partition is also tried with
        the barriers only down-weighted, and the better of the two is kept.
        """

        def fit(adj):
            return BalancedPartition(
                self.target,
                self.tolerance,
                seed=self.seed,
                n_parts=self.n_parts,
                prove=adj is graph.adjacency,
            ).fit(atom_w, adj)

        if self.n_parts is not None:
            return fit(graph.adjacency)
        cut = cut_barriers(graph.adjacency, graph.crossing, atom_w, self.target, self.tolerance)
        part = fit(cut)
        worse = _outside(part, self.target, self.tolerance)
        if cut is graph.adjacency or worse == 0:
            return part
        alt = fit(graph.adjacency)
        # ties go to the whole graph: its verdicts (proofs, undecided) hold for the region,
        # and so does a proof that some piece cannot fit whatever the plan
        proved = any(d["kind"] in PROVED_KINDS[2:] for d in alt.infeasible_)
        return alt if proved or _outside(alt, self.target, self.tolerance) <= worse else part

    def crossing_share(self) -> float:
        """Share of barrier-crossing edges that are inside one grid (lower is better)."""
        if self.graph_ is None:
            return self.crossing_share_
        cross = self.graph_.crossing.tocoo()
        if cross.nnz == 0:
            return 0.0
        first = np.zeros(len(self.graph_.points), dtype=np.int64)
        first[self.atom_of_[::-1]] = np.arange(len(self.atom_of_))[::-1]
        lab = self.labels_[first]
        return float(np.mean(lab[cross.row] == lab[cross.col]))


EXACT_ATOMS = 300  # the largest piece the evaluation searches atom by atom


def grouping_verdict(
    region, points, households, barriers, target, tolerance, budget: SearchBudget | None = None
) -> list[dict]:
    """Exact verdicts on a region whose plan keeps grids outside the band.

    Per connected piece of the building graph (buildings above the upper
    bound left out) whose households fit a number of grids: the quick proofs
    the redistricting asks (:class:`~geo.gridplan.quickproof.QuickProof`, with
    its budgets), then the redistricting's heuristics (a split inside the band
    found there settles the piece), then, for pieces of at most ``EXACT_ATOMS``
    buildings, the exact searches (:func:`~geo.gridplan.exactsplit.split_exactly`:
    atom by atom, then the constraint solver, with the redistricting's budgets
    per piece), all within ``budget`` (taken off as spent; one piece's by
    default). A piece proved gets its record; one split inside the band gets
    none (a plan fits there, this one does not); the rest get ``{"kind":
    "undecided"}``. Used by the evaluation, which has no redistricting run to ask.
    """
    lo, hi = band(target, tolerance)
    households = np.asarray(households, dtype=float)
    atoms, atom_of = dedupe_points(points)
    w = np.bincount(atom_of, households, minlength=len(atoms))
    graph = build_graph(atoms, region, barriers)
    keep = np.flatnonzero(w <= hi)
    adj = graph.adjacency[keep][:, keep]
    ncomp, comp = connected_components(adj, directed=False)
    budget = SearchBudget() if budget is None else budget
    out = []
    for c in range(ncomp):
        idx = keep[comp == c]
        h = w[idx].sum()
        k = choose_parts(h, target, tolerance)
        if h < lo or not lo <= h / k <= hi:
            continue
        piece = adj[comp == c][:, comp == c]
        buildings = np.flatnonzero(np.isin(atom_of, idx)).tolist()
        proof = QuickProof(w[idx], piece, lo, hi, target=target)
        if proof.proved():
            out.append({**proof.verdict, "buildings": buildings})
            continue
        if _redistricted_in_band(w[idx], piece, target, tolerance):
            continue  # a plan fits here (the redistricting found one): not this plan's
        heavy = int((w[idx] > 0).sum())
        why = "not shown infeasible by the quick proofs"
        if len(idx) > EXACT_ATOMS or heavy > proof.max_exact:
            out.append({"kind": "undecided", "detail": why, "buildings": buildings})
            continue
        exact = budget.ask(w[idx], piece, lo, hi)
        if exact.status == "infeasible":
            out.append({**no_contiguous(exact.how, heavy, lo, hi), "buildings": buildings})
        elif exact.status == "undecided":
            why += f" nor settled by the exact searches ({exact.how})"
            out.append({"kind": "undecided", "detail": why, "buildings": buildings})
    return out


def _redistricted_in_band(w, adj, target, tolerance) -> bool:
    """Whether the redistricting's heuristics split this piece inside the band (checked).

    They find most plans in milliseconds where the exact searches would spend
    their whole budget (minutes) looking for one; their exact steps past the
    heuristics are left to the caller (no proofs, no atom-by-atom search here).
    """
    lo, hi = band(target, tolerance)
    part = BalancedPartition(target, tolerance, prove=False).fit(w, adj)
    return plan_fits(part.labels_, w, neighbours(adj, len(w)), lo, hi)


def _outside(part: BalancedPartition, target, tolerance) -> int:
    """Feasible parts outside the band."""
    lo, hi = band(target, tolerance)
    h = part.part_weights_[part.part_feasible_]
    return int(np.sum((h < lo) | (h > hi)))


def cut_barriers(adjacency, crossing, weights, target, tolerance):
    """Drop the barrier-crossing edges where each side can be districted on its own.

    The pieces between roads/rivers whose households fit a whole number of
    grids are partitioned alone (no grid crosses the barrier); pieces that do
    not fit keep their crossing edges and join their neighbours.
    """
    if crossing.nnz == 0:
        return adjacency
    lo, hi = band(target, tolerance)
    inner = (adjacency - adjacency.multiply(crossing > 0)).tocsr()
    inner.eliminate_zeros()
    ncomp, comp = connected_components(inner, directed=False)
    if ncomp == 1:
        return adjacency
    totals = np.bincount(comp, weights, minlength=ncomp)
    fits = np.array(
        [h >= lo and lo <= h / choose_parts(h, target, tolerance) <= hi for h in totals]
    )
    cross = crossing.tocoo()
    cross = sparse.coo_array(
        (cross.data[cross.data > 0], (cross.row[cross.data > 0], cross.col[cross.data > 0])),
        shape=crossing.shape,
    )
    keep = ~fits[comp[cross.row]] | ~fits[comp[cross.col]]
    drop = sparse.coo_array(
        (np.ones(int((~keep).sum())), (cross.row[~keep], cross.col[~keep])), shape=adjacency.shape
    )
    out = (adjacency - adjacency.multiply(drop > 0)).tocsr()
    out.eliminate_zeros()
    return out


def region_minus(community, locked) -> shapely.Geometry:
    """The community without the locked grids' polygons."""
    if locked is None or len(locked) == 0:
        return community
    return shapely.difference(community, shapely.union_all(locked))

"""Balanced contiguous partition of a weighted atom graph.

METIS (k-way, contiguous, weighted by households, cut weighted by shared
boundary) gives a compact start; a repair pass makes every part connected; a
local search then moves boundary atoms between neighbouring parts while it
lowers ``BIG·(band violation + penalty if outside) + (h − target)²/target + λ·cut``
and never disconnects the part it takes from. Parts still outside the band are
repaired (exact tower grouping, recombination) over a few attempts, then their
neighbourhoods are regrouped exactly. Everything is deterministic for a seed.
"""

from __future__ import annotations

import math

import numpy as np
import pymetis
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from geo.gridplan.constraint import WORK
from geo.gridplan.exact import FEASIBLE, INFEASIBLE, ConnectedGrouping
from geo.gridplan.exactsplit import split_exactly
from geo.gridplan.frontier import STATES
from geo.gridplan.localsearch import rebalance
from geo.gridplan.neighbourhood import cover_around, ring_parts
from geo.gridplan.pieces import make_connected
from geo.gridplan.proofs import ProofKind
from geo.gridplan.quickproof import QuickProof, checked, no_contiguous
from geo.gridplan.recombine import outside_penalty, recombine
from geo.gridplan.setcover import GroupCover
from geo.gridplan.settings import band


class BalancedPartition:
    """Split atoms (buildings) into contiguous parts of about ``target`` households.

    Parameters
    ----------
    target : float
        Households per part.
    tolerance : float
        Relative band: parts within ``target·(1 ± tolerance)`` count as balanced.
    seed : int
        METIS seed; equal input and seed give equal labels.
    n_parts : int, optional
        Force the number of parts (``split`` of a grid); by default it is chosen
        per connected component so the average fits the band best.
    compactness : float
        λ, cost per metre of cut boundary in the local search.
    max_passes : int
        Passes of the local search.
    restarts : int
        Extra attempts when parts stay outside the band: another METIS seed,
        then one grid fewer and one more (when their average fits the band).
    max_cover : int
        Largest number of household-holding atoms handed to the exact grouping.
    max_exact : int
        Largest number of household-holding atoms handed to the exact decision
        (:class:`~geo.gridplan.exact.ConnectedGrouping`) when parts stay outside the band.
    prove : bool
        Whether an exact "no split fits" counts as a proof: true only when
        ``adjacency`` is the whole atom graph (not one with barrier edges cut).
    exact_steps : int
        Budget of the exact decision of a component (sets looked at, see
        ``ConnectedGrouping.max_steps``); each neighbourhood solved around a part
        outside the band gets a quarter of it. Past it a component is "undecided".
    reseeds : int
        Whole new attempts (seeds ``seed + 100·i``) for a component still
        outside the band, before the exact decision.
    frontier_states : int
        Budget of the last exact step, when the grouping's budgets run out: the
        atom-by-atom search (:class:`~geo.gridplan.frontier.FrontierSplit`, no
        link-building cap), in states kept.
    solver_work : float
        Budget of the constraint solver asked after it on pieces of at most
        :data:`~geo.gridplan.constraint.MAX_ATOMS` atoms
        (:class:`~geo.gridplan.constraint.ConstraintSplit`), in deterministic
        work units. Past both a component is "undecided".

    Attributes
    ----------
    labels_ : ndarray of int
        Part of each atom, 0..n_parts_-1.
    n_parts_ : int
    part_weights_ : ndarray
        Households per part.
    part_feasible_ : ndarray of bool
        False for parts that cannot be in the band (oversized atom alone, too
        small component, no part count fits, no contiguous grouping fits).
    infeasible_ : list of dict
        ``{"kind", "detail", "atoms"}`` per infeasible case.
    undecided_ : list of dict
        ``{"detail", "atoms"}`` per component left outside the band for which the
        exact decision ran out of budget (neither solved nor shown infeasible).

    Examples
    --------
    >>> from scipy import sparse
    >>> n = 12
    >>> path = sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1]).tocsr()
    >>> bp = BalancedPartition(target=300).fit(np.full(n, 100.0), path)
    >>> bp.n_parts_, sorted(bp.part_weights_.tolist())
    (4, [300.0, 300.0, 300.0, 300.0])
    """

    def __init__(
        self,
        target: float = 300,
        tolerance: float = 0.15,
        seed: int = 0,
        n_parts: int | None = None,
        compactness: float = 0.01,
        max_passes: int = 40,
        restarts: int = 3,
        max_cover: int = 400,
        max_exact: int = 120,
        prove: bool = True,
        exact_steps: int = 60_000,
        reseeds: int = 2,
        frontier_states: int = STATES,
        solver_work: float = WORK,
    ):
        self.target = target
        self.tolerance = tolerance
        self.seed = seed
        self.n_parts = n_parts
        self.compactness = compactness
        self.max_passes = max_passes
        self.restarts = restarts
        self.max_cover = max_cover
        self.max_exact = max_exact
        self.prove = prove
        self.exact_steps = exact_steps
        self.reseeds = reseeds
        self.frontier_states = frontier_states
        self.solver_work = solver_work

    def fit(self, weights, adjacency) -> BalancedPartition:
        """Partition atoms with ``weights`` (households) on the symmetric ``adjacency``."""
        w = np.asarray(weights, dtype=float)
        adj = sparse.csr_array(adjacency)
        n = len(w)
        lo, hi = band(self.target, self.tolerance)
        labels = np.full(n, -1, dtype=np.int64)
        feasible: list[bool] = []
        self.infeasible_ = []
        self.undecided_ = []
        big = np.flatnonzero(w > hi) if self.n_parts is None else np.empty(0, dtype=int)
        for i in big:
            labels[i] = len(feasible)
            feasible.append(False)
            self.infeasible_.append(
                {
                    "kind": ProofKind.BUILDING_OVER_UPPER_BOUND,
                    "atoms": [int(i)],
                    "detail": f"one building holds {w[i]:g} households > {hi:g}",
                }
            )
        rest = np.flatnonzero(labels < 0)
        if len(rest):
            sub = adj[rest][:, rest]
            ncomp, comp = connected_components(sub, directed=False)
            ks = self._parts_per_component(w[rest], comp, ncomp)
            for c in range(ncomp):
                idx = rest[comp == c]
                cw, cadj = w[idx], adj[idx][:, idx]
                proof = QuickProof(cw, cadj, lo, hi, **self._proving())
                local, ok = self._fit_component(cw, cadj, ks[c], lo, hi, hopeless=proof.proved)
                verdict = None
                if ok and self._outside_band(local, cw, lo, hi):
                    local, verdict = self._decide(cw, cadj, local, lo, hi, ks[c], proof)
                labels[idx] = local + len(feasible)
                if not ok:
                    self.infeasible_.append(self._why(w[idx].sum(), idx, ks[c], lo, hi))
                elif verdict is not None and verdict["kind"] == "undecided":
                    self.undecided_.append({"detail": verdict["detail"], "atoms": idx.tolist()})
                elif verdict is not None:
                    ok = False
                    self.infeasible_.append({**verdict, "atoms": [int(i) for i in idx]})
                feasible.extend([ok] * (local.max() + 1))
        self.labels_ = labels
        self.n_parts_ = len(feasible)
        self.part_weights_ = np.bincount(labels, w, minlength=self.n_parts_) if n else np.zeros(0)
        self.part_feasible_ = np.array(feasible, dtype=bool)
        return self

    # -- exact decision ---------------------------------------------------------------
    def _proving(self) -> dict:
        """What :class:`QuickProof` may do here."""
        return {
            "target": self.target,
            "allowed": self.prove and self.n_parts is None,
            "max_exact": self.max_exact,
            "max_steps": self.exact_steps,
        }

    def _outside_band(self, labels, w, lo, hi) -> bool:
        return self.n_parts is None and _outside(labels, w, lo, hi) > 0

    def _reseed(self, w, adj, labels, lo, hi, k) -> np.ndarray:
        """Whole new attempts with other seeds while parts stay outside the band (cheap)."""
        for more in range(1, self.reseeds + 1):
            if not self._outside_band(labels, w, lo, hi):
                break
            again, _ = self._fit_component(w, adj, k, lo, hi, self.seed + 100 * more)
            if _violation(again, w, lo, hi) < _violation(labels, w, lo, hi):
                labels = again
        return labels

    def _decide(self, w, adj, labels, lo, hi, k, proof) -> tuple[np.ndarray, dict | None]:
        """Parts still outside the band: solve exactly, or prove no plan fits.

        Returns the labels (a split inside the band when one was found) and
        None (solved), an infeasibility record, or ``{"kind": "undecided"}``.
        """
        heavy = w[w > 0]
        if not self.prove:  # barrier edges cut: the whole graph is tried after this anyway
            labels = self._solve_around(w, adj, labels, lo, hi)
            if not self._outside_band(labels, w, lo, hi):
                return labels, None
            return labels, {
                "kind": "undecided",
                "detail": "grids outside the band with roads and river cut; not decided there",
            }
        if proof.proved():  # the quick proofs first: no use solving around then
            return labels, proof.verdict
        labels = self._reseed(w, adj, labels, lo, hi, k)
        labels = self._solve_around(w, adj, labels, lo, hi)
        if not self._outside_band(labels, w, lo, hi):
            return labels, None
        if len(heavy) > self.max_exact:
            return labels, {
                "kind": "undecided",
                "detail": f"{len(heavy)} buildings with households: too many to decide exactly",
            }
        budgets = dict(max_sets=8_000, max_steps=self.exact_steps)
        cg = ConnectedGrouping(self.target, lo, hi, relaxation=False, **budgets).fit(w, adj)
        if cg.status_ == INFEASIBLE:
            return labels, no_contiguous(checked(cg), len(heavy), lo, hi)
        split = cg.labels_
        if cg.status_ != FEASIBLE:  # the grouping's budgets ran out: atom by atom, no link cap
            exact = split_exactly(w, adj, lo, hi, self.frontier_states, self.solver_work)
            if exact.status == INFEASIBLE:
                return labels, no_contiguous(exact.how, len(heavy), lo, hi)
            if exact.status != FEASIBLE:
                return labels, {
                    "kind": "undecided",
                    "detail": (
                        "neither solved nor proved infeasible within the exact searches' "
                        f"budgets ({cg.steps_:,} steps of the tower grouping, {exact.how})"
                    ),
                }
            split = exact.labels
        polished = rebalance(split, w, adj, self.target, lo, hi, self.compactness, self.max_passes)
        return _compact(polished), None

    def _solve_around(self, w, adj, labels, lo, hi, rings=(1, 2)) -> np.ndarray:
        """Solve exactly the neighbourhood (rings of parts) of each part outside the band.

        The neighbourhood's atoms are split again by :class:`ConnectedGrouping`;
        a split inside the band replaces its parts (the others do not change).
        """
        coo = adj.tocoo()
        tried: set[frozenset] = set()
        progress = True
        while progress:
            progress = False
            pw = np.bincount(labels, w)
            for a in np.flatnonzero((pw < lo) | (pw > hi)).tolist():
                for ring in rings:
                    nodes = np.flatnonzero(np.isin(labels, ring_parts(labels, coo, a, ring)))
                    key = frozenset(nodes.tolist())
                    if key in tried:
                        continue
                    tried.add(key)
                    sub = adj[nodes][:, nodes]
                    cg = ConnectedGrouping(
                        self.target, lo, hi, max_sets=5_000, max_steps=self.exact_steps // 4
                    ).fit(w[nodes], sub)
                    if cg.status_ != FEASIBLE:
                        continue
                    labels = labels.copy()
                    labels[nodes] = cg.labels_ + labels.max() + 1
                    labels = _compact(labels)
                    progress = True
                    break
                if progress:
                    break
        return labels

    # -- how many parts -----------------------------------------------------------
    def _parts_per_component(self, w, comp, ncomp) -> list[int]:
        totals = np.bincount(comp, w, minlength=ncomp)
        if self.n_parts is None:
            return [choose_parts(h, self.target, self.tolerance) for h in totals]
        share = totals / max(totals.sum(), 1e-9) * self.n_parts
        ks = np.maximum(1, np.floor(share)).astype(int)
        for c in np.argsort(-(share - np.floor(share)), kind="stable"):
            if ks.sum() >= self.n_parts:
                break
            ks[c] += 1
        return ks.tolist()

    def _why(self, h, idx, k, lo, hi) -> dict:
        if h < lo:
            kind, detail = ProofKind.COMMUNITY_TOO_SMALL, f"{h:g} households < lower bound {lo:g}"
        else:
            kind, detail = (
                ProofKind.NO_GRID_COUNT_FITS,
                f"{h:g} households fit no number of grids in [{lo:g}, {hi:g}]",
            )
        return {"kind": kind, "atoms": [int(i) for i in idx], "detail": detail}

    # -- one connected component --------------------------------------------------
    def _fit_component(
        self, w, adj, k, lo, hi, seed=None, hopeless=None
    ) -> tuple[np.ndarray, bool]:
        """Best of a few attempts (part counts and seeds), each started by METIS and repaired.

        ``hopeless(quick)`` (when given) is asked after each attempt that left
        parts outside the band, within a small budget after the first: True (no
        plan can fit, e.g. proved) ends the attempts.
        """
        seed = self.seed if seed is None else seed
        n = len(w)
        k = max(1, min(k, n))
        avg_ok = lo <= w.sum() / k <= hi
        if k == 1:
            return np.zeros(n, dtype=np.int64), avg_ok
        best, cost = None, math.inf
        for i, (parts, s) in enumerate(self._attempts(w.sum(), k, n, lo, hi, seed)):
            labels = self._start(w, adj, parts, lo, hi, s)
            now = _violation(labels, w, lo, hi)
            if now > 0 and avg_ok:
                labels, now = self._repair(labels, w, adj, lo, hi, s, grouping=i == 0)
            if now < cost:
                best, cost = labels, now
            if cost == 0 or not avg_ok:
                break
            if hopeless is not None and hopeless(quick=i == 0):
                return _compact(best), avg_ok
        if cost > 0 and avg_ok and self._towers(w, int(best.max()) + 1):
            around = cover_around(best, w, adj, self.target, lo, hi)
            around = rebalance(
                around, w, adj, self.target, lo, hi, self.compactness, self.max_passes
            )
            best = around if _violation(around, w, lo, hi) < cost else best
        return _compact(best), avg_ok

    def _towers(self, w, parts) -> bool:
        """A tower district (few buildings hold the households) whose part count is free."""
        heavy = int((w > 0).sum())
        return self.n_parts is None and heavy <= self.max_cover and heavy <= 5 * parts

    def _attempts(self, total, k, n, lo, hi, seed) -> list[tuple[int, int]]:
        """(parts, seed) to try in order: the chosen count, another seed, then counts next to it.

        Other counts only when the number of parts is free and their average fits the band.
        """
        counts = [k]
        if self.n_parts is None:
            counts += [j for j in (k - 1, k + 1) if 1 < j <= n and lo <= total / j <= hi]
        out = [(j, seed + s) for s in range(self.restarts + 1) for j in counts]
        out.sort(key=lambda a: (a[1] - seed + (a[0] != k), a[0] != k))
        return out[: self.restarts + 1]

    def _start(self, w, adj, k, lo, hi, seed) -> np.ndarray:
        """METIS, made connected, then the boundary local search."""
        labels = _compact(make_connected(_metis(w, adj, k, seed), adj, w))
        return rebalance(labels, w, adj, self.target, lo, hi, self.compactness, self.max_passes)

    def _pick(self, labels, alt, w, adj, lo, hi) -> np.ndarray:
        """``alt`` (connected, polished) when it violates the band less than ``labels``."""
        alt = _compact(make_connected(alt, adj, w))
        alt = rebalance(alt, w, adj, self.target, lo, hi, self.compactness, self.max_passes)
        return alt if _violation(alt, w, lo, hi) < _violation(labels, w, lo, hi) else labels

    def _repair(self, labels, w, adj, lo, hi, seed, grouping):
        """Repair parts outside the band.

        With ``grouping``, the exact grouping of the buildings with households
        first (tower districts; it does not depend on the start, so one attempt
        uses it), then recombination of neighbouring grids; when two or more
        grids stay outside, a grouping that allows heavier groups and fewer
        grids outside. Each is kept only when it helps.
        """
        towers = self._towers(w, int(labels.max()) + 1)  # a grouping picks its own part count
        if grouping and towers:
            # groups of up to three towers: on the demos four or five put no grid more in
            # the band, and there are several times as many (10k subset: 2.1 -> 1.6 CPU-s)
            cover = GroupCover(self.target, lo, hi, max_size=3).fit(w, adj)
            if cover.ok_:
                labels = self._pick(labels, cover.labels_, w, adj, lo, hi)
        if _violation(labels, w, lo, hi) > 0:
            alt = recombine(labels, w, adj, self.target, lo, hi, seed=seed)
            labels = self._pick(labels, alt, w, adj, lo, hi)
        outside = _outside(labels, w, lo, hi)
        if grouping and towers and outside >= 2:  # fewer grids outside: one heavy for two light
            fewer = tuple(range(1, outside))
            cover = GroupCover(self.target, lo, hi, over=0.5, levels=fewer).fit(w, adj)
            if cover.ok_:
                labels = self._pick(labels, cover.labels_, w, adj, lo, hi)
        return labels, _violation(labels, w, lo, hi)


def choose_parts(households: float, target: float, tolerance: float) -> int:
    """Number of grids for ``households``.

    The count whose average fits the band closest to the target;
    ``round(h / target)`` (≥ 1) when none fits.

    Examples
    --------
    >>> choose_parts(1000, 300, 0.15), choose_parts(100, 300, 0.15), choose_parts(600, 300, 0.15)
    (3, 1, 2)
    """
    lo, hi = band(target, tolerance)
    if households <= 0:
        return 1
    k_min = max(1, math.ceil(households / hi - 1e-9))
    k_max = math.floor(households / lo + 1e-9)
    fits = [k for k in range(k_min, k_max + 1) if lo <= households / k <= hi]
    if fits:
        return min(fits, key=lambda k: (abs(households / k - target), k))
    return max(1, round(households / target))


def _outside(labels, w, lo, hi) -> int:
    """Parts outside the band."""
    pw = np.bincount(labels, w)
    return int(np.count_nonzero((pw < lo) | (pw > hi)))


def _violation(labels, w, lo, hi) -> float:
    """Households outside the band, plus :func:`outside_penalty` per part outside it."""
    pw = np.bincount(labels, w)
    viol = np.maximum(0, pw - hi) + np.maximum(0, lo - pw)
    return float(np.sum(viol) + outside_penalty(lo, hi) * np.count_nonzero(viol))


def _metis(w, adj, k, seed) -> np.ndarray:
    opts = pymetis.Options(seed=int(seed), ufactor=30, contig=1)
    vw = (np.rint(w * 10) + 1).astype(np.int64)
    part = pymetis.part_graph(
        k,
        xadj=adj.indptr.astype(np.int64),
        adjncy=adj.indices.astype(np.int64),
        vweights=vw,
        eweights=adj.data.astype(np.int64),
        options=opts,
    )
    return np.asarray(part.vertex_part if hasattr(part, "vertex_part") else part[1], dtype=np.int64)


def _compact(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..m-1 in order of first appearance."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inv.ravel()]

"""Siting: where ``k`` new cameras add the most coverage, existing cameras fixed.

Reads the stored views and the data (see :mod:`geo.coverage.basis`), builds
candidates and demand (:mod:`geo.coverage.candidates`), computes each
candidate's occluded view with the same model as existing cameras, and solves
the maximal covering problem (:mod:`geo.coverage.siting`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from sqlalchemy import Engine

from geo.coverage import candidates as candidate_sites
from geo.coverage.basis import Basis, read_basis
from geo.coverage.settings import CoverageSettings
from geo.coverage.siting import ExactMCLP, LazyGreedy, SitingMethod, curve_of
from geo.coverage.units import read_units
from geo.coverage.views import model
from geo.errors import InvalidInput
from geo.settings import ServiceAreaSettings

METHODS = tuple(SitingMethod)
#: "auto" solves exactly up to this many nonzeros in the coverage matrix.
EXACT_MAX_NNZ = 200_000


@dataclass
class Problem:
    """A siting instance: candidates, demand and who sees what."""

    candidates: pd.DataFrame
    views: np.ndarray
    A: sparse.csr_matrix
    weights: np.ndarray
    baseline: float
    total: float


def _optics(settings: CoverageSettings) -> dict:
    return {"fov": settings.site_fov, "range_m": settings.site_range_m,
            "height_m": settings.site_height_m, "tilt": settings.site_tilt, "kind": "bullet"}


def build_problem(basis: Basis, region, weight: str, settings: CoverageSettings,
                  posted: list[dict] | None = None) -> Problem:
    """Candidates, their views and the coverage matrix over uncovered demand."""
    xy, w, covered = candidate_sites.demand(basis, weight, region)
    need_xy, need_w = xy[~covered], w[~covered]
    optics = _optics(settings)
    if posted:
        cands = candidate_sites.posted_candidates(posted, basis, settings.site_azimuths, optics)
    else:
        along_roads = candidate_sites.road_sites(basis.roads, settings.site_spacing_m)
        sites = candidate_sites.keep_sites(along_roads, region, basis.footprints)
        sites = _near_demand(sites, need_xy, settings.site_range_m)
        cands = candidate_sites.expand_azimuths(sites, settings.site_azimuths, optics)
    fit = model(settings).fit(cands, basis.footprints)
    views = fit.views_
    A = _matrix(views, need_xy)
    return Problem(cands.reset_index(drop=True), views, A, need_w,
                   float(w[covered].sum()), float(w.sum()))


def _near_demand(sites: np.ndarray, need_xy: np.ndarray, reach: float) -> np.ndarray:
    """Sites within ``reach`` of some uncovered demand point."""
    if len(sites) == 0 or len(need_xy) == 0:
        return sites[:0]
    tree = shapely.STRtree(shapely.points(need_xy))
    si, _ = tree.query(shapely.points(sites), predicate="dwithin", distance=reach)
    return sites[np.unique(si)]


def _matrix(views: np.ndarray, xy: np.ndarray) -> sparse.csr_matrix:
    """Candidates × demand: 1 where the candidate's view contains the point."""
    n, m = len(views), len(xy)
    if n == 0 or m == 0:
        return sparse.csr_matrix((n, m), dtype=bool)
    live = np.flatnonzero(~shapely.is_missing(views))
    tree = shapely.STRtree(shapely.points(xy))
    vi, pi = tree.query(views[live], predicate="contains")
    data = np.ones(len(vi), dtype=bool)
    return sparse.csr_matrix((data, (live[vi], pi)), shape=(n, m), dtype=bool)


@dataclass(frozen=True)
class Solution:
    """The candidates a solver chose, in pick order, and the facts it reports.

    ``status``, ``objective``, ``bound`` and ``gap`` are the exact solver's (None
    for the greedy one).
    """

    method: SitingMethod
    chosen: np.ndarray
    seconds: float
    status: str | None = None
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None

    def facts(self) -> dict:
        """The solver facts of the answer: method and seconds, and the exact solver's."""
        out: dict = {"method": self.method.value, "seconds": self.seconds}
        if self.method is SitingMethod.EXACT:
            out.update(status=self.status, objective=self.objective, bound=self.bound,
                       gap=self.gap)
        return out


def solve(problem: Problem, k: int, method: str, time_limit: float, cancel=None) -> Solution:
    """Run the chosen solver(s) → chosen order, objective and solver facts."""
    if method not in METHODS:
        raise InvalidInput(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    sites = problem.candidates["site"].to_numpy()
    if method == SitingMethod.AUTO:
        method = SitingMethod.EXACT if problem.A.nnz <= EXACT_MAX_NNZ else SitingMethod.GREEDY
    if method == SitingMethod.GREEDY:
        est = LazyGreedy(k).fit(problem.A, problem.weights, sites)
        return Solution(SitingMethod.GREEDY, est.chosen_, est.seconds_)
    est = ExactMCLP(k, time_limit).fit(problem.A, problem.weights, sites, cancel=cancel)
    return Solution(SitingMethod.EXACT, est.chosen_, est.seconds_, status=est.status_,
                    objective=est.objective_, bound=est.bound_, gap=est.gap_)


def site_cameras(engine: Engine, k: int, weight: str = "incidents", *,
                 candidates: list[dict] | None = None, method: str = "greedy",
                 settings: CoverageSettings, area: ServiceAreaSettings,
                 days: int | None = None, cancel=None) -> dict:
    """Propose ``k`` new cameras (``cancel``: a ``threading.Event`` ending the exact solver).

    Returns
    -------
    dict
        ``sites`` (GeoJSON FeatureCollection of new cameras in pick order, each
        with azimuth, optics, gain and the share after it), ``curve`` (share
        covered after 0..k new cameras), ``baseline``, ``candidates``,
        ``demand_points`` and the solver facts (``method``, ``seconds``; for
        the exact solver ``status``, ``objective``, ``bound``, ``gap``).
    """
    if not 1 <= int(k) <= 500:
        raise InvalidInput("k must be between 1 and 500")
    t0 = time.perf_counter()
    with engine.connect() as conn:
        basis = read_basis(conn, window_days=days or settings.window_days, area=area)
        units = read_units(conn, "city", basis.proj)
    region = units["geometry"].iloc[0]
    basis.setup_tiles(region.bounds)
    problem = build_problem(basis, region, weight, settings, candidates)
    solution = solve(problem, int(k), method, settings.site_time_limit_s, cancel)
    chosen = solution.chosen
    curve = problem.baseline + np.r_[0.0, curve_of(problem.A, problem.weights, chosen)]
    share = curve / problem.total if problem.total > 0 else np.zeros_like(curve)
    return {
        "k": int(k), "weight": weight, **solution.facts(),
        "baseline": {"covered": problem.baseline, "total": problem.total,
                     "share": float(share[0])},
        "curve": [{"cameras": i, "covered": float(c), "share": float(s)}
                  for i, (c, s) in enumerate(zip(curve, share, strict=True))],
        "sites": _features(problem, chosen, np.diff(curve), share[1:], basis),
        "candidates": int(len(problem.candidates)),
        "demand_points": int(problem.A.shape[1]),
        "elapsed_s": time.perf_counter() - t0,
    }


def _features(problem: Problem, chosen, gains, shares, basis: Basis) -> dict:
    cands = problem.candidates.iloc[chosen]
    lon, lat = basis.proj.xy_to_lonlat(cands["x"].to_numpy(), cands["y"].to_numpy())
    views = basis.proj.to_lonlat(problem.views[chosen])
    feats = []
    for i, (row, lo, la) in enumerate(zip(cands.itertuples(index=False), lon, lat, strict=True)):
        view = views[i]
        feats.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [float(lo), float(la)]},
            "properties": {
                "rank": i + 1, "azimuth": float(row.azimuth), "fov": float(row.fov),
                "range_m": float(row.range_m), "height_m": float(row.height_m),
                "tilt": float(row.tilt), "kind": row.kind, "gain": float(gains[i]),
                "share_after": float(shares[i]),
                "view": None if view is None else shapely.geometry.mapping(view),
            },
        })
    return {"type": "FeatureCollection", "features": feats}

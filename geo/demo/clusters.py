"""Planted hotspot clusters: new, intensifying, persistent and diminishing.

Weekly counts are calibrated against the actual background so the cluster's
centre cell (H3 res 9, k=1 Gi*) follows a target z path week by week, then
the sampled incidents are checked the way an Emerging Hot Spot Analysis
would see them (weekly Gi* plus Mann–Kendall on the z series).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h3
import numpy as np
import shapely

from geo.demo.gistar import CellGrid, cells_of, mann_kendall
from geo.demo.spec import WEEKS, DemoSpec, Frame, rng_for
from geo.errors import Infeasible

PATTERNS = ("new", "intensifying", "persistent", "diminishing")
THEMES = ("public_order", "dispute", "city_management", "hazard", "livelihood")
MIN_CELL_DISTANCE = 4
#: Least distance (m) between planted centres: each disk and its Gi* ring stay apart.
MIN_SEPARATION_M = 1_100.0
#: Radius (m) within which the households around a candidate centre are counted.
HOME_RADIUS_M = 350.0
#: A lasting cluster's centre has at least this share of the median households around
#: the cells that may host one (it sits where people live, not in a park or a factory).
HOME_SHARE = 0.5
HOT_Z, NEW_BEFORE_MAX_Z, TREND_Z = 3.0, 1.5, 3.0


@dataclass
class Cluster:
    """One planted cluster (local metres) and what was verified about it."""

    id: str
    pattern: str
    cell: int
    x: float
    y: float
    radius_m: float
    category: str
    target: np.ndarray
    weekly: np.ndarray = field(default_factory=lambda: np.zeros(WEEKS, int))
    z_weekly: np.ndarray = field(default_factory=lambda: np.zeros(WEEKS))
    trend_z: float = 0.0
    z_whole: float = 0.0
    ok: bool = False


def targets(pattern: str, z_lo: float, z_hi: float) -> np.ndarray:
    """Target weekly z path of a pattern (NaN: the cluster is silent that week)."""
    mid = (z_lo + z_hi) / 2
    if pattern == "new":
        t = np.full(WEEKS, np.nan)
        t[-1] = mid
        return t
    if pattern == "persistent":
        return np.full(WEEKS, mid)
    path = np.linspace(z_lo, z_hi, WEEKS)
    return path if pattern == "intensifying" else path[::-1]


def _candidates(grid: CellGrid, frame: Frame, boundary, keep_out) -> tuple[np.ndarray, ...]:
    """Cells that can host a cluster: interior, inside the city, away from gaps and water."""
    ll = np.array([h3.cell_to_latlng(h3.int_to_str(c)) for c in grid.cells.tolist()])
    x, y = frame.to_metric(ll[:, 1], ll[:, 0])
    x, y = x - frame.x0, y - frame.y0
    interior = np.array([(grid.index(np.array([h3.str_to_int(r) for r in
                                               h3.grid_disk(h3.int_to_str(c), 2)])) >= 0).all()
                         for c in grid.cells.tolist()])
    ok = interior & shapely.contains_xy(boundary.buffer(-400), x, y)
    ok &= ~shapely.contains_xy(keep_out, x, y)
    return ok, x, y


def _households_near(x: np.ndarray, y: np.ndarray, homes) -> np.ndarray:
    """Households of the buildings within :data:`HOME_RADIUS_M` of each point."""
    hx, hy, hh = homes
    tree = shapely.STRtree(shapely.points(hx, hy))
    i, j = tree.query(shapely.points(x, y), predicate="dwithin", distance=HOME_RADIUS_M)
    return np.bincount(i, weights=np.asarray(hh, float)[j], minlength=len(x))


def choose(spec: DemoSpec, grid: CellGrid, bg: np.ndarray, frame: Frame, boundary, keep_out,
           homes, rng: np.random.Generator) -> list[Cluster]:
    """Pick well-separated centre cells: quiet ones for "new", ordinary ones for the rest.

    The clusters that last the whole year sit where people live: their centre has at
    least :data:`HOME_SHARE` of the median number of households around the cells
    that may host a cluster, so the incidents they add follow households like the
    background.
    Centres are at least :data:`MIN_SEPARATION_M` apart and ``MIN_CELL_DISTANCE``
    cells apart.

    Parameters
    ----------
    spec : DemoSpec
        The size preset (clusters per pattern, z targets).
    grid : CellGrid
        The service cells.
    bg : ndarray, shape (weeks, cells)
        Weekly background counts.
    frame : Frame
        The local metric frame.
    boundary, keep_out : Polygon
        The city outline and the area kept clear (gaps, river), local metres.
    homes : tuple of ndarray
        ``(x, y, households)`` of the buildings (local metres).
    rng : numpy.random.Generator
        Orders the candidates and draws the radii.
    """
    ok, x, y = _candidates(grid, frame, boundary, keep_out)
    ring = np.asarray(grid.w @ bg.sum(0)).ravel()
    rank = np.argsort(np.argsort(ring, kind="stable"), kind="stable") / max(grid.n - 1, 1)
    zmax = grid.gi_star(bg).max(0)
    people = _households_near(x, y, homes)
    lived = people >= HOME_SHARE * np.median(people[ok]) if ok.any() else ok
    slots = [(p_i, pattern, k) for p_i, pattern in enumerate(PATTERNS)
             for k in range(spec.clusters_per_pattern)]
    pools = [rng.permutation(np.flatnonzero(
        ok & ((rank < 0.4) & (zmax < 0.5) if pattern == "new"
              else (rank > 0.15) & (rank < 0.85) & lived))) for _, pattern, _ in slots]
    cells = [h3.int_to_str(int(c)) for c in grid.cells.tolist()]

    def apart(i: int, j: int) -> bool:
        return bool(np.hypot(x[i] - x[j], y[i] - y[j]) >= MIN_SEPARATION_M
                    and h3.grid_distance(cells[i], cells[j]) >= MIN_CELL_DISTANCE)

    picked = _first_apart(pools, apart)
    if picked is None:
        raise Infeasible(f"no room to plant {len(slots)} separated clusters in the "
                         f"{spec.name} demo")
    return [Cluster(id=f"{pattern[0].upper()}{k + 1}", pattern=pattern,
                    cell=int(grid.cells[i]), x=float(x[i]), y=float(y[i]),
                    radius_m=float(rng.uniform(330, 370)),
                    category=THEMES[(p_i * spec.clusters_per_pattern + k) % len(THEMES)],
                    target=targets(pattern, *spec.z_range))
            for (p_i, pattern, k), i in zip(slots, picked, strict=True)]


def _first_apart(pools: list[np.ndarray], apart, budget: int = 200_000) -> list[int] | None:
    """One cell per pool, pairwise ``apart``: the first such choice in pool order.

    A depth-first search (the greedy pick backtracks when a later pool has no room
    left); ``None`` when there is none, or none found within ``budget`` steps.
    """
    chosen: list[int] = []
    steps = 0

    def fill(level: int) -> bool:
        nonlocal steps
        if level == len(pools):
            return True
        for i in pools[level].tolist():
            steps += 1
            if steps > budget:
                return False
            if i not in chosen and all(apart(i, j) for j in chosen):
                chosen.append(i)
                if fill(level + 1):
                    return True
                chosen.pop()
        return False

    return chosen if fill(0) else None


def _offsets(c: Cluster, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points on the cluster's disk.

    A disk of ~350 m fills the centre cell and its six neighbours evenly, which
    makes the centre's Gi* stand out at the smallest cost in added variance.
    """
    r = c.radius_m * np.sqrt(rng.random(n))
    t = rng.uniform(0, 2 * np.pi, n)
    return c.x + r * np.cos(t), c.y + r * np.sin(t)


def kernels(clusters: list[Cluster], grid: CellGrid, frame: Frame,
            rng: np.random.Generator) -> np.ndarray:
    """Share of each cluster's incidents falling in each cell (Monte Carlo)."""
    out = np.zeros((len(clusters), grid.n))
    for k, c in enumerate(clusters):
        x, y = _offsets(c, 20_000, rng)
        lon, lat = frame.to_lonlat(x + frame.x0, y + frame.y0)
        out[k] = grid.counts(grid.index(cells_of(lon, lat)))[0] / 20_000
    return out


def _centre_z(grid: CellGrid, x: np.ndarray, i: int) -> np.ndarray:
    """Gi* z of cell ``i`` for every row of ``x`` (cheaper than the full map)."""
    n = grid.n
    row = grid.w.getrow(i).toarray().ravel()
    mean = x.mean(1)
    s = np.sqrt(np.maximum((x ** 2).mean(1) - mean ** 2, 1e-12))
    wi = row.sum()
    return (x @ row - mean * wi) / (s * np.sqrt((n * wi - wi ** 2) / (n - 1)))


def calibrate(clusters: list[Cluster], grid: CellGrid, bg: np.ndarray,
              kern: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Weekly incident counts per cluster meeting the target z paths (joint bisection)."""
    mass = np.zeros((len(clusters), WEEKS))
    centre = [int(grid.index(np.array([c.cell]))[0]) for c in clusters]
    cap = bg.sum(1) * 0.6
    for _ in range(rounds):
        for k, c in enumerate(clusters):
            active = ~np.isnan(c.target)
            base = bg + mass.T @ kern - np.outer(mass[k], kern[k])
            lo, hi = np.zeros(WEEKS), cap.copy()
            goal = np.nan_to_num(c.target, nan=-np.inf)
            for _ in range(36):
                mid = (lo + hi) / 2
                z = _centre_z(grid, base + np.outer(mid, kern[k]), centre[k])
                below = z < goal
                lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
            mass[k] = np.where(active, hi, 0.0)
    return mass


def verify(clusters: list[Cluster], grid: CellGrid, counts: np.ndarray) -> None:
    """Record each centre's weekly z, its trend and whole-period z; flag if the pattern holds."""
    z = grid.gi_star(counts)
    z_all = grid.gi_star(counts.sum(0))[0]
    for c in clusters:
        i = int(grid.index(np.array([c.cell]))[0])
        c.z_weekly = z[:, i]
        c.trend_z = mann_kendall(c.z_weekly)
        c.z_whole = float(z_all[i])
        if c.pattern == "new":
            c.ok = bool(c.z_weekly[-1] >= HOT_Z and c.z_weekly[:-1].max() < NEW_BEFORE_MAX_Z)
            continue
        hot = bool(c.z_weekly.min() >= HOT_Z and c.z_whole >= HOT_Z)
        trend = {"intensifying": c.trend_z >= TREND_Z, "diminishing": c.trend_z <= -TREND_Z,
                 "persistent": abs(c.trend_z) < 1.0}[c.pattern]
        c.ok = hot and bool(trend)


def plant(clusters: list[Cluster], grid: CellGrid, bg: np.ndarray, frame: Frame, seed: int,
          attempts: int = 12):
    """Calibrate, sample and verify; re-draw until every pattern holds (or attempts run out).

    Returns
    -------
    x, y : ndarray
        Incident locations (local metres).
    week : ndarray
        Week index of each incident.
    owner : ndarray
        Index of the cluster each incident belongs to.
    """
    kern = kernels(clusters, grid, frame, rng_for(seed, "cluster-kernels"))
    mass = calibrate(clusters, grid, bg, kern)
    for attempt in range(attempts):
        rng = rng_for(seed, f"cluster-sample-{attempt}")
        xs, ys, weeks, owner = [], [], [], []
        for k, c in enumerate(clusters):
            c.weekly = np.round(mass[k] * (1.0 + 0.03 * attempt)).astype(int)
            n = int(c.weekly.sum())
            x, y = _offsets(c, n, rng)
            xs.append(x)
            ys.append(y)
            weeks.append(np.repeat(np.arange(WEEKS), c.weekly))
            owner.append(np.full(n, k))
        x, y, week, owner = map(np.concatenate, (xs, ys, weeks, owner))
        lon, lat = frame.to_lonlat(x + frame.x0, y + frame.y0)
        idx = grid.index(cells_of(lon, lat))
        verify(clusters, grid, bg + grid.counts(idx, week, WEEKS))
        if all(c.ok for c in clusters):
            break
    return x, y, week, owner

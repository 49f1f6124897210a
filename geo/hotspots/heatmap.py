"""Quartic (biweight) kernel density of incidents, evaluated on H3 cell centres.

Kernel
    ``K(d) = 3 / (π h²) · (1 − d²/h²)²`` for ``d < h``, else 0 (integrates to 1);
    density is reported in incidents per km².

Default bandwidth ``h`` (the rule ArcGIS Kernel Density uses, on projected metres)
    ``h = 0.9 · min(SD, sqrt(1/ln 2) · Dm) · n^(−0.2)`` where ``SD`` is the
    weighted standard distance of the points from their weighted mean centre,
    ``Dm`` the weighted median distance to that centre and ``n`` the number of
    incidents; then clamped to [100, 1000] m.

Grid
    Output cells: H3 at ``res`` (default: the coarsest resolution whose edge is at
    most h/2, so a kernel spans a few dozen cells). Incidents are snapped to the
    centres of H3 cells one resolution finer than the output (at most the
    resolution of the counts given, res 11 from the service: ≤ 25 m) before
    smoothing. Distances are in ``metric_epsg`` (default: the UTM
    zone of the points).
"""

from __future__ import annotations

import h3
import h3.api.basic_int as h3i
import numpy as np
from pyproj import Transformer
from scipy.spatial import cKDTree
from shapely.geometry import box

from geo.crs import utm_epsg
from geo.errors import InvalidInput, NotEnoughData, TooLarge
from geo.hotspots.cells import centres, parents, polyfill

BANDWIDTH_RANGE_M = (100.0, 1000.0)


def default_bandwidth(xy: np.ndarray, w: np.ndarray) -> float:
    """The documented default bandwidth (metres) of weighted projected points."""
    n = float(w.sum())
    centre = (xy * w[:, None]).sum(axis=0) / n
    dist = np.hypot(*(xy - centre).T)
    sd = np.sqrt((w * dist**2).sum() / n)
    order = np.argsort(dist)
    cum = np.cumsum(w[order])
    dm = dist[order][np.searchsorted(cum, n / 2)]
    h = 0.9 * min(sd, np.sqrt(1 / np.log(2)) * dm) * n ** -0.2
    return float(np.clip(h, *BANDWIDTH_RANGE_M))


def res_for_bandwidth(h: float) -> int:
    """Coarsest H3 resolution (6..12) whose average edge is at most h/2."""
    for res in range(6, 13):
        if h3.average_hexagon_edge_length(res, unit="m") <= h / 2:
            return res
    return 12


class QuarticKDE:
    """Quartic kernel density of weighted lon/lat points on H3 cell centres.

    Parameters
    ----------
    bandwidth_m : float or None
        Kernel radius in metres (None → the documented default rule).
    res : int or None
        H3 resolution of the output cells (None → from the bandwidth).
    metric_epsg : int or None
        Projected CRS for distances (None → UTM zone of the points).

    Attributes
    ----------
    bandwidth_m_, res_, epsg_ : the values used.
    cells_ : ndarray of int64
        Output cells with a positive density.
    density_ : ndarray
        Incidents per km² at each cell centre.
    lonlat_ : ndarray (m, 2)
        Cell centres.
    """

    def __init__(self, bandwidth_m: float | None = None, res: int | None = None,
                 metric_epsg: int | None = None, max_cells: int | None = None,
                 max_pairs: int | None = None):
        self.bandwidth_m = bandwidth_m
        self.res = res
        self.metric_epsg = metric_epsg
        self.max_cells = max_cells
        self.max_pairs = max_pairs

    def fit(self, cells: np.ndarray, counts: np.ndarray, counts_at=None) -> QuarticKDE:
        """Estimate the density of incidents counted on H3 ``cells`` (any one resolution).

        ``counts_at(res)`` → (cells, counts) gives the exact counts at the coarser
        resolution the incidents are snapped to; without it they are summed from
        ``cells`` by parent, which H3's inexact hierarchy makes approximate.
        """
        cells = np.asarray(cells, dtype=np.int64)
        counts = np.asarray(counts, dtype=float)
        if counts.sum() <= 0:
            raise NotEnoughData("no incidents to draw a heatmap from")
        if self.bandwidth_m is not None and not 10 <= self.bandwidth_m <= 10_000:
            raise InvalidInput(f"bandwidth_m must be 10..10000 m, got {self.bandwidth_m}")
        lonlat = centres(cells)
        self.epsg_ = self.metric_epsg or utm_epsg(*lonlat.mean(axis=0))
        fwd = Transformer.from_crs(4326, self.epsg_, always_xy=True)
        h = self.bandwidth_m or default_bandwidth(_project(fwd, lonlat), counts)
        self.bandwidth_m_ = float(h)
        self.res_ = self.res if self.res is not None else res_for_bandwidth(h)
        src_res = min(self.res_ + 1, h3i.get_resolution(int(cells[0])))
        if counts_at is not None and src_res != h3i.get_resolution(int(cells[0])):
            src_cells, src_w = counts_at(src_res)
            src_w = np.asarray(src_w, dtype=float)
        else:
            src_cells, inv = np.unique(parents(cells, src_res), return_inverse=True)
            src_w = np.bincount(inv, weights=counts)
        src_xy = _project(fwd, centres(src_cells))
        self._check_size(lonlat, h, len(src_cells))
        targets = _target_cells(lonlat, h, self.res_)
        tgt_lonlat = centres(targets)
        density = _quartic_sum(_project(fwd, tgt_lonlat), src_xy, src_w, h)
        keep = density > 0
        self.cells_, self.density_, self.lonlat_ = targets[keep], density[keep], tgt_lonlat[keep]
        return self


    def _check_size(self, lonlat: np.ndarray, h: float, n_src: int) -> None:
        """Refuse, before any work, a grid or a pair count over the limits."""
        cell_m2 = h3.average_hexagon_area(self.res_, unit="m^2")
        lat0 = float(np.mean(lonlat[:, 1]))
        span = (np.ptp(lonlat, axis=0) * [111_320.0 * np.cos(np.radians(lat0)), 111_320.0])
        cells = (span[0] + 2 * h) * (span[1] + 2 * h) / cell_m2
        pairs = min(cells, np.pi * h * h / cell_m2) * n_src
        advice = "use a smaller bandwidth_m, a coarser res, a bbox or a shorter window"
        if self.max_cells is not None and cells > self.max_cells:
            raise TooLarge(f"this heatmap would evaluate about {cells:,.0f} cells at res "
                           f"{self.res_} (limit {self.max_cells:,}); {advice}")
        if self.max_pairs is not None and pairs > self.max_pairs:
            raise TooLarge(f"this heatmap would sum about {pairs:,.0f} cell pairs within "
                           f"{h:,.0f} m (limit {self.max_pairs:,}); {advice}")


def _project(fwd: Transformer, lonlat: np.ndarray) -> np.ndarray:
    """Lon/lat → projected metres."""
    return np.column_stack(fwd.transform(lonlat[:, 0], lonlat[:, 1]))


def _target_cells(lonlat: np.ndarray, h: float, res: int) -> np.ndarray:
    """Cells at ``res`` covering the points' extent grown by the bandwidth."""
    lat0 = float(np.mean(lonlat[:, 1]))
    dlat = h / 111_320.0
    dlon = h / (111_320.0 * np.cos(np.radians(lat0)))
    x0, y0 = lonlat.min(axis=0)
    x1, y1 = lonlat.max(axis=0)
    return polyfill(box(x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat), res)


def _quartic_sum(tgt: np.ndarray, src: np.ndarray, w: np.ndarray, h: float) -> np.ndarray:
    """Σ_j w_j K(|t − s_j|) per target, in incidents per km²."""
    pairs = cKDTree(tgt).sparse_distance_matrix(cKDTree(src), h, output_type="ndarray")
    u = 1.0 - (pairs["v"] / h) ** 2
    k = 3.0 / (np.pi * h * h) * u * u * w[pairs["j"]]
    return np.bincount(pairs["i"], weights=k, minlength=len(tgt)) * 1e6

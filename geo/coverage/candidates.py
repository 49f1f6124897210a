"""Candidate sites for new cameras and the demand they should see (metric CRS).

* Sites: road intersections (nodes where three or more road pieces meet) and
  points every ``spacing`` metres along every road, inside the service area
  and not inside a footprint; or points posted by the caller.
* Candidates: each site with ``n_azimuths`` evenly spaced bearings and the
  default optics of a new bullet camera.
* Demand: what is not yet covered — windowed incidents (at their doorsteps;
  weight 1 each), a lattice of public ground (``area_step`` m; weight = cell
  area in m²) or points along roads (``road_step`` m; weight = metres).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.coverage.basis import Basis
from geo.coverage.tiling import points_in
from geo.errors import InvalidInput

WEIGHTS = ("incidents", "area", "roads")


def road_sites(roads: np.ndarray, spacing: float) -> np.ndarray:
    """Intersections and evenly spaced points along ``roads`` → (n, 2) unique sites."""
    lines = shapely.get_parts(shapely.line_merge(shapely.get_parts(roads)))
    if len(lines) == 0:
        return np.empty((0, 2))
    noded = shapely.get_parts(shapely.union_all(lines))
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(noded, 0)),
                      shapely.get_coordinates(shapely.get_point(noded, -1))])
    key, counts = np.unique(np.round(ends, 2), axis=0, return_counts=True)
    crossings = key[counts >= 3]
    lengths = shapely.length(noded)
    n = np.maximum(1, np.floor(lengths / spacing)).astype(int)
    owner = np.repeat(np.arange(len(noded)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    dist = (k + 0.5) * (lengths / n)[owner]
    along = shapely.get_coordinates(shapely.line_interpolate_point(noded[owner], dist))
    sites = np.vstack([crossings, along])
    snapped = np.round(sites / (spacing / 4))
    _, first = np.unique(snapped, axis=0, return_index=True)
    return sites[np.sort(first)]


def keep_sites(xy: np.ndarray, region, footprints: np.ndarray) -> np.ndarray:
    """Sites inside ``region`` and outside every footprint."""
    if len(xy) == 0:
        return xy
    ok = shapely.contains_xy(region, xy[:, 0], xy[:, 1]) if region is not None else \
        np.ones(len(xy), dtype=bool)
    ok &= ~points_in(footprints, xy[:, 0], xy[:, 1])
    return xy[ok]


def expand_azimuths(xy: np.ndarray, n_azimuths: int, optics: dict) -> pd.DataFrame:
    """One candidate camera per (site, bearing) with the given optics."""
    az = np.arange(n_azimuths) * (360.0 / n_azimuths)
    site = np.repeat(np.arange(len(xy)), n_azimuths)
    frame = pd.DataFrame({"site": site, "x": xy[site, 0], "y": xy[site, 1],
                          "azimuth": np.tile(az, len(xy))})
    for k, v in optics.items():
        frame[k] = v
    return frame


def posted_candidates(rows: list[dict], basis: Basis, n_azimuths: int,
                      optics: dict) -> pd.DataFrame:
    """Candidates posted by the caller (lon/lat, optional bearing and optics)."""
    if not rows:
        raise InvalidInput("candidates is empty")
    recs = []
    for i, r in enumerate(rows):
        try:
            lon, lat = float(r["lon"]), float(r["lat"])
        except (KeyError, TypeError, ValueError):
            raise InvalidInput(f"candidate {i}: lon and lat are required numbers") from None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput(f"candidate {i}: lon/lat out of range")
        az = r.get("azimuth")
        bearings = [float(az)] if az is not None else list(np.arange(n_azimuths) * 360 / n_azimuths)
        for b in bearings:
            if not 0 <= b < 360:
                raise InvalidInput(f"candidate {i}: azimuth must be in [0, 360)")
            rec = {"site": i, "lon": lon, "lat": lat, "azimuth": b}
            rec.update({k: float(r.get(k, v)) if k != "kind" else r.get(k, v)
                        for k, v in optics.items()})
            if not 0 < rec["fov"] <= 360 or not 0 < rec["range_m"] <= 2000:
                raise InvalidInput(f"candidate {i}: fov must be in (0, 360], range_m in (0, 2000]")
            recs.append(rec)
    frame = pd.DataFrame(recs)
    frame["x"], frame["y"] = basis.proj.xy_to_metric(frame["lon"], frame["lat"])
    return frame


def demand(basis: Basis, weight: str, region, *, area_step: float = 10.0,
           road_step: float = 5.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Demand points (n, 2), weights, and whether each is already covered."""
    if weight not in WEIGHTS:
        raise InvalidInput(f"unknown weight {weight!r}; use one of {', '.join(WEIGHTS)}")
    if weight == "incidents":
        xy = basis.incidents[["sx", "sy"]].to_numpy(float)
        if region is not None and len(xy):
            xy = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
        w = np.ones(len(xy))
    elif weight == "area":
        x0, y0, x1, y1 = region.bounds
        gx, gy = np.meshgrid(np.arange(x0, x1, area_step) + area_step / 2,
                             np.arange(y0, y1, area_step) + area_step / 2)
        xy = np.column_stack([gx.ravel(), gy.ravel()])
        xy = xy[shapely.contains_xy(region, xy[:, 0], xy[:, 1])]
        xy = xy[~points_in(basis.obstacles, xy[:, 0], xy[:, 1])]
        w = np.full(len(xy), area_step * area_step)
    else:
        roads = shapely.intersection(basis.roads, region) if region is not None else basis.roads
        lines = shapely.get_parts(roads)
        lines = lines[shapely.get_type_id(lines) == 1]
        n = np.maximum(1, np.round(shapely.length(lines) / road_step)).astype(int)
        owner = np.repeat(np.arange(len(lines)), n)
        k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        step = (shapely.length(lines) / n)[owner]
        xy = shapely.get_coordinates(shapely.line_interpolate_point(lines[owner], (k + 0.5) * step))
        w = step
    covered = points_in(basis.cover(None, public=weight != "roads"), xy[:, 0], xy[:, 1]) \
        if len(xy) else np.zeros(0, dtype=bool)
    return xy, w, covered

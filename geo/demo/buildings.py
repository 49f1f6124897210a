"""Building footprints inside blocks: towers, low-rise and non-residential buildings.

Households follow ARCHITECTURE.md §8: towers 100–300, low-rise 10–40, non-residential 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.demo.blocks import Blocks

KINDS = ("tower", "low_rise", "non_residential")
HOUSEHOLDS = {"tower": (100, 300), "low_rise": (10, 40), "non_residential": (0, 0)}
# Buildings per hectare and kind mix (tower, low_rise, non_residential) per land use.
DENSITY = {"tower": 3.0, "lowrise": 9.0, "mixed": 7.0, "industrial": 2.5, "village": 16.0,
           "park": 0.0}
MIX = {"tower": (0.45, 0.10, 0.45), "lowrise": (0.0, 0.70, 0.30), "mixed": (0.06, 0.30, 0.64),
       "industrial": (0.0, 0.0, 1.0), "village": (0.0, 0.35, 0.65), "park": (0.0, 0.0, 1.0)}
SETBACK_M = 5.0


def _orientation(poly) -> float:
    """Direction (radians, in [-pi/2, pi/2)) of the longer side of the block's rotated rectangle.

    A side has no sense of direction, so the angle is taken modulo pi: which corner
    GEOS starts the rectangle's ring at (it varies with the GEOS version and with
    last-bit differences in the coordinates) must not turn the building lattice
    half a turn, which would hand every random draw to another lattice slot.
    """
    ring = np.asarray(shapely.minimum_rotated_rectangle(poly).exterior.coords)
    edges = np.diff(ring[:3], axis=0)
    e = edges[np.argmax(np.hypot(edges[:, 0], edges[:, 1]))]
    return float((np.arctan2(e[1], e[0]) + np.pi / 2) % np.pi - np.pi / 2)


def _rects(cx, cy, w, d, ang) -> np.ndarray:
    """Rotated rectangles (vectorised) centred at cx, cy."""
    c, s = np.cos(ang), np.sin(ang)
    ux, uy = np.array([-1, 1, 1, -1]) / 2, np.array([-1, -1, 1, 1]) / 2
    dx = ux[None, :] * w[:, None]
    dy = uy[None, :] * d[:, None]
    xs = cx[:, None] + dx * c[:, None] - dy * s[:, None]
    ys = cy[:, None] + dx * s[:, None] + dy * c[:, None]
    return shapely.polygons(np.stack([xs, ys], axis=2))


def _sizes(kind: np.ndarray, use: str, rng: np.random.Generator):
    """Footprint width/depth (m) and floors per building kind."""
    n = len(kind)
    w, d = rng.uniform(10, 30, n), rng.uniform(8, 18, n)
    floors = rng.integers(1, 5, n)
    t, lr = kind == "tower", kind == "low_rise"
    w[t], d[t], floors[t] = rng.uniform(24, 40, t.sum()), rng.uniform(14, 20, t.sum()), \
        rng.integers(18, 34, t.sum())
    w[lr], d[lr], floors[lr] = rng.uniform(30, 60, lr.sum()), rng.uniform(10, 14, lr.sum()), \
        rng.integers(4, 8, lr.sum())
    if use == "industrial":
        w, d, floors = w * rng.uniform(2, 4, n), d * rng.uniform(2, 3.5, n), rng.integers(1, 3, n)
    if use == "village":
        w, d = w * 0.6, d * 0.8
        floors = np.where(lr, rng.integers(3, 5, n), floors)
    return w, d, floors


def _place_in_block(poly, n: int, use: str, rng: np.random.Generator):
    """Up to ``n`` footprints on a jittered lattice inside ``poly`` (minus the setback)."""
    inner = poly.buffer(-SETBACK_M)
    if inner.is_empty or n <= 0:
        return None
    ang = _orientation(poly)
    s = np.sqrt(inner.area / n) * 0.92
    sx, sy = s * 1.25, s / 1.25
    cen = inner.centroid
    half = np.hypot(*(np.array(inner.bounds[2:]) - inner.bounds[:2])) / 2 + s
    u, v = np.meshgrid(np.arange(-half, half, sx), np.arange(-half, half, sy))
    u = u.ravel() + rng.uniform(-0.12, 0.12, u.size) * sx
    v = v.ravel() + rng.uniform(-0.12, 0.12, v.size) * sy
    c, si = np.cos(ang), np.sin(ang)
    x, y = cen.x + u * c - v * si, cen.y + u * si + v * c
    inside = shapely.contains_xy(inner, x, y)
    x, y = x[inside], y[inside]
    if len(x) == 0:
        return None
    kind = np.array(KINDS)[rng.choice(3, len(x), p=MIX[use])]
    w, d, floors = _sizes(kind, use, rng)
    w, d = np.minimum(w, 0.85 * sx), np.minimum(d, 0.7 * sy)
    angs = np.full(len(x), ang) + rng.normal(0, 0.03, len(x))
    rect = _rects(x, y, w, d, angs)
    ok = shapely.contains(inner, rect)
    if (~ok).any():
        rect[~ok] = _rects(x[~ok], y[~ok], w[~ok] * 0.55, d[~ok] * 0.55, angs[~ok])
        ok = shapely.contains(inner, rect)
    keep = np.flatnonzero(ok)
    keep = keep[rng.permutation(len(keep))[:n]]
    keep.sort()
    return rect[keep], kind[keep], floors[keep]


def _households(kind: np.ndarray, floors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Households from floors × units per floor, clipped to the kind's range."""
    hh = np.zeros(len(kind), dtype=int)
    for k, (lo, hi) in HOUSEHOLDS.items():
        m = kind == k
        if hi == 0:
            continue
        units = rng.integers(4, 9, m.sum()) if k == "tower" else rng.integers(2, 7, m.sum())
        hh[m] = np.clip(floors[m] * units, lo, hi)
    return hh


def residential_land(buildings: pd.DataFrame) -> np.ndarray:
    """Whether each building stands on land where people live (not industry, not a park)."""
    return ~buildings["land_use"].isin(("industrial", "park")).to_numpy()


def _match_households(df: pd.DataFrame, target: int, rng: np.random.Generator) -> None:
    """Flip building kinds until total households is just at or above ``target``."""
    total = int(df["households"].sum())
    if total > target:
        order = rng.permutation(np.flatnonzero(df["kind"].to_numpy() != "non_residential"))
        cum = np.cumsum(df["households"].to_numpy()[order])
        drop = order[: int(np.searchsorted(cum, total - target))]
        df.loc[drop, ["kind", "households"]] = ["non_residential", 0]
    elif total < target:
        cand = (df["kind"].to_numpy() == "non_residential") & residential_land(df)
        order = rng.permutation(np.flatnonzero(cand))
        add = rng.integers(12, 41, len(order))
        take = order[: int(np.searchsorted(np.cumsum(add), target - total)) + 1]
        df.loc[take, "kind"] = "low_rise"
        df.loc[take, "households"] = add[: len(take)]
        df.loc[take, "floors"] = np.maximum(df.loc[take, "floors"].to_numpy(), 4)


def make_buildings(blocks: Blocks, n_target: int, hh_target: int,
                   rng: np.random.Generator) -> pd.DataFrame:
    """Footprints (local metres) with kind, floors, households, population, community code.

    ``land_use`` (the block's use) is kept for the incident generator; it is not a
    column of the buildings layer.
    """
    dens = np.array([DENSITY[u] for u in blocks.use])
    weight = shapely.area(blocks.geoms) / 1e4 * dens
    counts = np.round(weight / weight.sum() * n_target * 1.06).astype(int)
    parts = []
    for geom, code, use, n in zip(blocks.geoms, blocks.community_code, blocks.use, counts,
                                  strict=True):
        got = _place_in_block(geom, int(n), use, rng)
        if got is None:
            continue
        rect, kind, floors = got
        parts.append(pd.DataFrame({"geometry": rect, "kind": kind, "floors": floors,
                                   "community_code": code, "land_use": use}))
    df = pd.concat(parts, ignore_index=True)
    if len(df) > n_target:
        df = df.iloc[np.sort(rng.permutation(len(df))[:n_target])].reset_index(drop=True)
    df["households"] = _households(df["kind"].to_numpy(), df["floors"].to_numpy(), rng)
    _match_households(df, hh_target, rng)
    hh = df["households"].to_numpy()
    df["population"] = np.round(hh * rng.uniform(2.3, 3.0, len(df))).astype(int)
    df["floors"] = df["floors"].astype(int)
    seq = df.groupby("community_code").cumcount() + 1
    df["code"] = df["community_code"] + seq.map("{:04d}".format)
    return df

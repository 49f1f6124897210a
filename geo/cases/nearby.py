"""Which cases have an earlier case of the same kind close by, without listing pairs.

The search behind the repeat flags (:mod:`geo.cases.repeats`), on plain arrays: the case
table uses it too, to link again only the cases a change touches.
"""

from __future__ import annotations

import numpy as np

R_EARTH = 6_371_008.8


def unit_sphere(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points on the unit sphere (x, y, z) for longitudes and latitudes in degrees."""
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


def earlier_within(group: np.ndarray, lon: np.ndarray, lat: np.ndarray, occ: np.ndarray,
                   radius_m: float, days: float, rows: np.ndarray | None = None,
                   max_candidates: int = 4_000_000) -> np.ndarray:
    """Whether each case (of ``rows``; default all) has an earlier case it repeats.

    ``group`` is the subcategory as an integer code per case (−1: none). Case *j* has
    one when some case *i* has the same subcategory code (not −1),
    ``0 < occ_j − occ_i ≤ days`` and lies within ``radius_m`` (the chord test of
    :func:`geo.cases.repeats.links_in`, so both agree exactly). The cases are put in buckets of
    (subcategory, latitude band, longitude band), bands at least ``radius_m`` wide
    (longitude bands at the highest latitude of the data, wrapping at ±180°) and
    sorted by time inside a bucket: the candidates of *j* are, in each of the 3 × 3
    buckets around its own (its own first), one contiguous run found by binary search,
    tested from the most recent back in growing windows until one is within reach, in
    batches of at most ``max_candidates``.

    Returns
    -------
    numpy.ndarray
        bool per row of ``rows`` (per case when ``rows`` is None).
    """
    n = len(occ)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.zeros(len(rows), bool)
    g = np.asarray(group, dtype=np.int64)
    has = np.flatnonzero(g >= 0)
    if len(has) == 0 or len(rows) == 0:
        return out
    theta = radius_m / R_EARTH
    chord = 2 * np.sin(radius_m / (2 * R_EARTH))  # as in links_in, to the last bit
    chord2 = chord * chord
    span = int(days * 86_400_000_000)
    dlat = np.degrees(theta) * (1 + 1e-6)
    top = min(float(np.abs(lat[has]).max()) + dlat, 90.0)
    ratio = np.sin(theta / 2) / max(np.cos(np.radians(top)), 1e-300)
    n_lon = 1 if ratio >= 1 else max(1, int(360.0 // (np.degrees(2 * np.arcsin(ratio))
                                                         * (1 + 1e-6))))
    n_lon = 1 if n_lon < 3 else n_lon  # fewer than 3 bands: one band holds every longitude
    cy = np.floor((np.clip(lat, -90.0, 90.0) + 90.0) / dlat).astype(np.int64) + 1  # ≥ 1
    cx = np.floor((np.mod(lon + 180.0, 360.0)) / (360.0 / n_lon)).astype(np.int64) % n_lon
    n_lat = int(cy[has].max()) + 2

    def bucket(gg, yy, xx):
        return (gg * n_lat + yy) * n_lon + xx

    b = bucket(g[has], cy[has], cx[has])
    order = np.lexsort((occ[has], b))
    pts, b = has[order], b[order]  # every case with a subcategory, by (bucket, time)
    new_bucket = np.r_[True, b[1:] != b[:-1]]
    ub, b_rank = b[new_bucket], np.cumsum(new_bucket) - 1
    times = np.sort(occ[pts])
    times = times[np.r_[True, times[1:] != times[:-1]]]
    m = len(times) + 1
    t_rank = np.searchsorted(times, occ[pts])
    key = b_rank * m + t_rank
    # The queries in the same (bucket, time) order: the binary searches then move forward.
    place = np.full(n, -1, np.int64)
    place[pts] = np.arange(len(pts))
    at = np.sort(place[rows][place[rows] >= 0])
    if len(at) == 0:
        return out
    q = pts[at]
    lo_t, hi_t = np.searchsorted(times, occ[q] - span, "left"), t_rank[at]
    x, y, z = (np.ascontiguousarray(c) for c in unit_sphere(lon[pts], lat[pts]).T)
    qx, qy, qz = x[at], y[at], z[at]
    # Own bucket first: most repeats are found there, and a case found is not looked at again.
    offsets = [(0, 0)] + [(dy, dx) for dy in (-1, 0, 1)
                          for dx in ((0,) if n_lon == 1 else (-1, 0, 1)) if (dy, dx) != (0, 0)]
    hit = np.zeros(len(q), bool)
    for dy, dx in offsets:
        todo = np.flatnonzero(~hit)
        if len(todo) == 0:
            break
        qt = q[todo]
        tb = bucket(g[qt], cy[qt] + dy, (cx[qt] + dx) % n_lon)
        r = np.minimum(np.searchsorted(ub, tb), len(ub) - 1)
        lo = np.searchsorted(key, r * m + lo_t[todo])
        hi = np.searchsorted(key, r * m + hi_t[todo])
        keep = np.flatnonzero((ub[r] == tb) & (hi > lo))
        owner, lo, hi = todo[keep], lo[keep], hi[keep]
        window = 16
        while len(owner):  # the most recent candidates first, in growing windows
            st = np.maximum(hi - window, lo)
            _test(owner, st, hi - st, hit, (qx, qy, qz), (x, y, z), chord2, max_candidates)
            hi = st
            left = (hi > lo) & ~hit[owner]
            owner, lo, hi = owner[left], lo[left], hi[left]
            window *= 2
    flags = np.zeros(n, bool)
    flags[q[hit]] = True
    return flags[rows]


def _test(owner: np.ndarray, starts: np.ndarray, counts: np.ndarray, hit: np.ndarray,
          q: tuple, p: tuple, chord2: float, max_candidates: int) -> None:
    """Mark ``hit[owner[k]]`` when one of points ``starts[k] … + counts[k]`` is within reach."""
    total = np.cumsum(counts)
    first = 0
    while first < len(counts):
        base = total[first - 1] if first else 0
        last = max(int(np.searchsorted(total, base + max_candidates, "right")), first + 1)
        c, st, o = counts[first:last], starts[first:last], owner[first:last]
        cand = np.arange(int(c.sum())) + np.repeat(st - (np.cumsum(c) - c), c)
        who = np.repeat(o, c)
        d2 = ((q[0][who] - p[0][cand]) ** 2 + (q[1][who] - p[1][cand]) ** 2
              + (q[2][who] - p[2][cand]) ** 2)
        hit[who[d2 <= chord2]] = True
        first = last

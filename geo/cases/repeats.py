"""Repeat complaints (重复投诉), linked to the case they repeat, never dropped.

ARCHITECTURE.md §10.

Rule (stated in every answer's ``method``): case *j* repeats case *i* when both have the same
non-empty subcategory, ``0 < occurred_j − occurred_i ≤ days`` and their great-circle distance
(sphere of radius 6,371,008.8 m) is at most ``radius_m``. A repeat links to the most recent
such earlier case (ties: the lower id) and, through it, to the first case of its chain.
Repeat rate of a unit = repeats received in the window / cases received in the window.
"""

from __future__ import annotations

import threading

import numpy as np
from scipy.spatial import cKDTree

from geo.cases.figures import Window, from_us
from geo.cases.table import Cases, check_level
from geo.errors import InvalidInput, NotEnoughData

R_EARTH = 6_371_008.8
MAX_PAIRS = 20_000_000  # pairs within the radius listed at most (about 0.5 GB of work)
METHOD = " ".join(__doc__.split("Rule (stated in every answer's ``method``): ")[1]
                  .replace("``", "").replace("*", "").split())


def _unit_sphere(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


def great_circle_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Haversine distance in metres."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2)
    return 2 * R_EARTH * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def repeat_links(cases: Cases, radius_m: float, days: float) -> tuple[np.ndarray, np.ndarray]:
    """(later, earlier) row pairs: each repeat and the earlier case it links to."""
    return links_in(cases.frame, radius_m, days)


def links_in(f, radius_m: float, days: float, max_pairs: int = MAX_PAIRS
             ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`repeat_links` on a case frame (rows of :attr:`Cases.frame`)."""
    if not (0 < radius_m <= 5000):
        raise InvalidInput(f"radius_m must be in (0, 5000], got {radius_m}")
    if not (0 < days <= 366):
        raise InvalidInput(f"days must be in (0, 366], got {days}")
    sub = f["subcategory"].to_numpy()
    has = np.flatnonzero(sub != None)  # noqa: E711
    if len(has) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    xyz = _unit_sphere(f["lon"].to_numpy()[has], f["lat"].to_numpy()[has])
    occ = f["occurred_at"].to_numpy()
    span = days * 86_400_000_000
    chord = 2 * np.sin(radius_m / (2 * R_EARTH))
    # One tree over (place, subcategory, time): subcategories sit 10 apart on a fourth axis,
    # time is scaled so that ``days`` spans one chord. Every pair within the radius and the
    # days lies within √2 chords; the exact tests follow.
    _, group = np.unique(sub[has].astype(str), return_inverse=True)
    t = (occ[has] - occ[has].min()) / span * chord
    pts = np.column_stack((xyz, group * 10.0, t))
    reach = chord * np.sqrt(2) * (1 + 1e-9)
    tree = cKDTree(pts)
    _check_size(tree, pts, reach, max_pairs, radius_m, days)
    pairs = tree.query_pairs(reach, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    i, j = pairs[:, 0], pairs[:, 1]
    near = ((xyz[i] - xyz[j]) ** 2).sum(axis=1) <= chord * chord
    a, b = has[i[near]], has[j[near]]
    swap = occ[a] > occ[b]
    early, late = np.where(swap, b, a), np.where(swap, a, b)
    gap = occ[late] - occ[early]
    ok = (gap > 0) & (gap <= span)
    early, late = early[ok], late[ok]
    ids = f["id"].to_numpy()
    order = np.lexsort((ids[early], -occ[early], late))
    early, late = early[order], late[order]
    first = np.r_[True, late[1:] != late[:-1]]
    return late[first], early[first]


def repeat_flags(cases: Cases, radius_m: float, days: float) -> np.ndarray:
    """Per case: True when it repeats an earlier case (kept on ``cases`` once computed).

    The same cases as the later side of :func:`repeat_links`, found without listing
    pairs (:func:`earlier_within`), so the work grows with the cases and their close
    neighbours, never with the square of a dense year.
    """
    memo = cases.__dict__.setdefault("_repeat_flags", {})
    key = (float(radius_m), float(days))
    with cases.__dict__.setdefault("_repeat_lock", threading.Lock()):  # one thread links
        if key in memo:
            return memo[key]
        f = cases.frame
        memo[key] = earlier_within(cases.codes("subcategory")[0], f["lon"].to_numpy(),
                                   f["lat"].to_numpy(), f["occurred_at"].to_numpy(),
                                   radius_m, days)
    return memo[key]


def earlier_within(group: np.ndarray, lon: np.ndarray, lat: np.ndarray, occ: np.ndarray,
                   radius_m: float, days: float, rows: np.ndarray | None = None,
                   max_candidates: int = 4_000_000) -> np.ndarray:
    """Whether each case (of ``rows``; default all) has an earlier case it repeats.

    ``group`` is the subcategory as an integer code per case (−1: none). Case *j* has
    one when some case *i* has the same subcategory code (not −1),
    ``0 < occ_j − occ_i ≤ days`` and lies within ``radius_m`` (the chord test of
    :func:`links_in`, so both agree exactly). The cases are put in buckets of
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
    x, y, z = (np.ascontiguousarray(c) for c in _unit_sphere(lon[pts], lat[pts]).T)
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


def _check_size(tree: cKDTree, pts: np.ndarray, reach: float, max_pairs: int,
                radius_m: float, days: float) -> None:
    """Refuse before listing when a sample says the close pairs would be too many."""
    n = len(pts)
    sample = pts[np.linspace(0, n - 1, min(n, 2000)).astype(np.int64)]
    near = tree.query_ball_point(sample, reach, return_length=True)
    estimate = int(n * (near.mean() - 1) / 2)
    if estimate > max_pairs:
        raise InvalidInput(f"about {estimate:,} pairs of cases of the same subcategory lie "
                           f"within {radius_m:g} m and {days:g} days of each other (limit "
                           f"{max_pairs:,}); narrow the window (from/to) or the radius")


def _roots(n: int, late: np.ndarray, early: np.ndarray) -> np.ndarray:
    parent = np.arange(n)
    parent[late] = early
    root = parent.copy()
    while True:  # parents are strictly earlier, so this ends
        nxt = parent[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def repeats(cases: Cases, level: str, window: Window, *, radius_m: float = 50.0,
            days: float = 30.0, limit: int = 1000) -> dict:
    """Repeat links and the repeat rate per unit of ``level`` for cases received in ``window``."""
    check_level(level)
    f = cases.frame
    occ = f["occurred_at"].to_numpy()
    # Only cases that can be a repeat received in the window, or the case it repeats.
    near = occ <= window.at
    if window.t0 is not None:
        near &= occ >= window.t0 - int(days * 86_400e6)
    if window.t1 is not None:
        near &= occ < window.t1
    rows_near = np.flatnonzero(near)
    cols = f[["id", "subcategory", "lon", "lat", "occurred_at"]]
    late, early = links_in(cols.iloc[rows_near].reset_index(drop=True), radius_m, days)
    late, early = rows_near[late], rows_near[early]
    rec = occ <= window.at
    if window.t0 is not None:
        rec &= occ >= window.t0
    if window.t1 is not None:
        rec &= occ < window.t1
    if not rec.any():
        raise NotEnoughData("no cases were received in this window")
    is_rep = np.zeros(len(f), bool)
    is_rep[late] = True
    unit = cases.unit_codes[level]
    if level == "city":
        names = [("city", "全市")]
    else:
        names = list(zip(cases.units[level]["code"], cases.units[level]["name"], strict=True))
    inside = rec & (unit >= 0)
    received = np.bincount(unit[inside], minlength=len(names))
    reps = np.bincount(unit[inside & is_rep], minlength=len(names))
    units = [{"code": c, "name": n, "received": int(received[i]), "repeats": int(reps[i]),
              "repeat_rate": None if received[i] == 0 else float(reps[i] / received[i])}
             for i, (c, n) in enumerate(names)]
    root = _roots(len(f), late, early)
    keep = rec[late]
    late_w, early_w = late[keep], early[keep]
    ids, src, ext = f["id"].to_numpy(), f["source"].to_numpy(), f["external_id"].to_numpy()
    lon, lat = f["lon"].to_numpy(), f["lat"].to_numpy()
    metres = great_circle_m(lon[late_w], lat[late_w], lon[early_w], lat[early_w])
    links = [{"id": int(ids[j]), "source": src[j], "external_id": ext[j],
              "subcategory": f["subcategory"].iat[j], "occurred_at": from_us(occ[j]).isoformat(),
              "repeat_of": int(ids[i]), "first": int(ids[root[j]]),
              "metres": round(float(m), 2), "hours": round(float(occ[j] - occ[i]) / 3.6e9, 3)}
             for j, i, m in zip(late_w[:limit], early_w[:limit], metres[:limit], strict=True)]
    return {"level": level, "radius_m": radius_m, "days": days, "units": units,
            "repeats": int(len(late_w)), "links": links, "method": METHOD}

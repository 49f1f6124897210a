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
from geo.cases.nearby import R_EARTH, earlier_within, unit_sphere
from geo.cases.table import Cases, check_level
from geo.errors import InvalidInput, NotEnoughData

MAX_PAIRS = 20_000_000  # pairs within the radius listed at most (about 0.5 GB of work)
METHOD = " ".join(__doc__.split("Rule (stated in every answer's ``method``): ")[1]
                  .replace("``", "").replace("*", "").split())


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
    xyz = unit_sphere(f["lon"].to_numpy()[has], f["lat"].to_numpy()[has])
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

"""Background incidents: where (households, shops, roads, places), when, and what.

Locations are local metres; times are seconds since the period start (local
time). :func:`finish_incidents` turns them into the canonical fields.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import shapely

from geo.demo.buildings import residential_land
from geo.demo.names import SUBCATEGORIES
from geo.demo.roads import HALF_WIDTH, RoadNet
from geo.demo.spec import TZ, WEEKS
from geo.vocabulary import CATEGORIES

SOURCES = {"12345": 0.45, "110": 0.20, "grid": 0.25, "petition": 0.03, "other": 0.07}
CATEGORY_BY_SOURCE = {
    "12345": (0.10, 0.05, 0.08, 0.40, 0.27, 0.10),
    "110": (0.35, 0.55, 0.05, 0.0, 0.0, 0.05),
    "grid": (0.20, 0.05, 0.30, 0.15, 0.30, 0.0),
    "petition": (0.60, 0.0, 0.0, 0.30, 0.0, 0.10),
    "other": (0.2, 0.2, 0.2, 0.2, 0.1, 0.1),
}
ID_PREFIX = {"12345": "RX", "110": "JJ", "grid": "WG", "petition": "XF", "other": "QT"}
HOURLY = np.array([1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 3.5, 4.5, 4.8, 4.5,
                   3.5, 3.8, 4.5, 4.6, 4.4, 4.0, 3.6, 3.6, 3.4, 3.0, 2.2, 1.5])
SPRING_FESTIVALS = (date(2024, 2, 10), date(2025, 1, 29), date(2026, 2, 17),
                    date(2027, 2, 6), date(2028, 1, 26), date(2029, 2, 13), date(2030, 2, 3))
WEEK_S = 7 * 86_400


def period(end: date) -> tuple[date, date]:
    """First day and the (exclusive) last day of the 52 weeks ending at ``end``."""
    return end - timedelta(days=7 * WEEKS), end


def week_weights(start: date) -> np.ndarray:
    """Relative weekly volume: a summer high, a winter low, a Spring Festival dip."""
    mid = np.array([start + timedelta(days=7 * w + 3) for w in range(WEEKS)])
    doy = np.array([d.timetuple().tm_yday for d in mid])
    w = 1.0 + 0.12 * np.sin(2 * np.pi * (doy - 100) / 365.25)
    for sf in SPRING_FESTIVALS:
        k = (sf - start).days // 7
        if 0 <= k < WEEKS:
            w[k] *= 0.75
    return w / w.sum()


def times_in_weeks(weeks: np.ndarray, rng: np.random.Generator, margin_h: float = 0.0):
    """Seconds since the period start: a day-time hourly profile inside each given week.

    ``margin_h`` keeps times that many hours away from the week's edges, so that
    binning in UTC instead of local time gives the same weeks.
    """
    n = len(weeks)
    day = rng.integers(0, 7, n)
    hour = rng.choice(24, n, p=HOURLY / HOURLY.sum())
    sec = day * 86_400 + hour * 3600 + rng.integers(0, 3600, n)
    lo, hi = margin_h * 3600, WEEK_S - margin_h * 3600
    sec = np.where((sec < lo) | (sec >= hi), rng.integers(int(lo), int(hi), n), sec)
    return weeks.astype(np.int64) * WEEK_S + sec


def background_points(n: int, buildings: pd.DataFrame, net: RoadNet, places: pd.DataFrame,
                      boundary, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` locations: households 70 %, shops 10 %, roads 12 %, places 6 %, anywhere 2 %.

    The background follows households (ARCHITECTURE.md §8): besides the incidents at homes,
    shops are the non-residential buildings on land where people live (not the
    sheds of an industrial estate), and road incidents happen on the road nearest
    to a home drawn by its households.
    """
    m = int(n * 1.04) + 10
    share = rng.multinomial(m, [0.70, 0.10, 0.12, 0.06, 0.02])
    geoms = buildings["geometry"].to_numpy()
    cent = shapely.centroid(geoms)
    bx, by = shapely.get_x(cent), shapely.get_y(cent)
    hh = buildings["households"].to_numpy().astype(float)
    area = shapely.area(geoms) * ((hh == 0) & residential_land(buildings))
    xs, ys = [], []
    for k, (w, sd) in enumerate(((hh, 18.0), (area, 15.0))):
        i = rng.choice(len(bx), share[k], p=w / w.sum())
        xs.append(bx[i] + rng.normal(0, sd, share[k]))
        ys.append(by[i] + rng.normal(0, sd, share[k]))
    x, y = _near_roads(net, bx, by, hh, share[2], rng)
    xs.append(x)
    ys.append(y)
    pw = places["kind"].map({"market": 5.0, "school": 2.0, "station": 3.0}).fillna(1.0)
    i = rng.choice(len(places), share[3], p=(pw / pw.sum()).to_numpy())
    pp = places["geometry"].to_numpy()[i]
    xs.append(shapely.get_x(pp) + rng.normal(0, 50, share[3]))
    ys.append(shapely.get_y(pp) + rng.normal(0, 50, share[3]))
    x0, y0, x1, y1 = boundary.bounds
    xs.append(rng.uniform(x0, x1, share[4]))
    ys.append(rng.uniform(y0, y1, share[4]))
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    inside = shapely.contains_xy(boundary, x, y)
    return x[inside][:n], y[inside][:n]


def _near_roads(net: RoadNet, bx: np.ndarray, by: np.ndarray, hh: np.ndarray, n: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points on the road surface nearest to homes drawn by their households.

    A home is drawn, a point ~ N(0, 80 m) from it, and the incident lands on the
    closest road there, spread across that road's width.
    """
    lines = np.array(net.lines, dtype=object)
    i = rng.choice(len(bx), n, p=hh / hh.sum())
    near = shapely.points(bx[i] + rng.normal(0, 80, n), by[i] + rng.normal(0, 80, n))
    j = shapely.STRtree(lines).query_nearest(near, all_matches=False)[1]
    p = shapely.line_interpolate_point(lines[j], shapely.line_locate_point(lines[j], near))
    half = np.array([HALF_WIDTH[c] for c in net.classes])[j]
    return (shapely.get_x(p) + rng.normal(0, 1, n) * half,
            shapely.get_y(p) + rng.normal(0, 1, n) * half)


def points_in(polys: list, counts: list[int], rng: np.random.Generator):
    """Uniform random points inside polygons (rejection sampling)."""
    xs, ys = [], []
    for poly, k in zip(polys, counts, strict=True):
        x0, y0, x1, y1 = poly.bounds
        got_x, got_y = np.empty(0), np.empty(0)
        while len(got_x) < k:
            x, y = rng.uniform(x0, x1, 4 * k), rng.uniform(y0, y1, 4 * k)
            ok = shapely.contains_xy(poly, x, y)
            got_x, got_y = np.r_[got_x, x[ok]], np.r_[got_y, y[ok]]
        xs.append(got_x[:k])
        ys.append(got_y[:k])
    return (np.concatenate(xs), np.concatenate(ys)) if xs else (np.empty(0), np.empty(0))


def kinds(n: int, rng: np.random.Generator, dominant: str | None = None, share: float = 0.0):
    """Source, category and subcategory with realistic mixes (a dominant category optional)."""
    source = rng.choice(list(SOURCES), n, p=list(SOURCES.values()))
    category = np.empty(n, dtype=object)
    for s, probs in CATEGORY_BY_SOURCE.items():
        m = source == s
        category[m] = rng.choice(CATEGORIES, m.sum(), p=probs)
    if dominant is not None:
        category[rng.random(n) < share] = dominant
    sub = np.empty(n, dtype=object)
    for c, names in SUBCATEGORIES.items():
        m = category == c
        sub[m] = rng.choice(names, m.sum())
    return source, category.astype(str), sub.astype(str)


def finish_incidents(df: pd.DataFrame, start: date, end: date,
                     rng: np.random.Generator) -> pd.DataFrame:
    """Sort by time, add timestamps, status/resolved_at and per-source external ids."""
    df = df.sort_values(["t", "source"], kind="stable").reset_index(drop=True)
    t = df["t"].to_numpy()
    t0 = pd.Timestamp(start, tz=TZ)
    occurred = t0 + pd.to_timedelta(t, unit="s")
    delay = np.round(np.minimum(rng.lognormal(np.log(18 * 3600), 1.0, len(df)), 30 * 86_400))
    horizon = (pd.Timestamp(end, tz=TZ) - t0).total_seconds()
    done = t + delay < horizon
    status = np.where(done, np.where(rng.random(len(df)) < 0.85, "closed", "resolved"),
                      np.where(horizon - t < 86_400, "received", "dispatched"))
    df["occurred_at"] = occurred
    df["status"] = status
    df["resolved_at"] = (occurred + pd.to_timedelta(delay, unit="s")).where(done)
    days = np.array([(start + timedelta(days=d)).strftime("%Y%m%d")
                     for d in range(7 * WEEKS + 1)])
    day = pd.Series(days[t // 86_400], index=df.index)
    seq = df.groupby([df["source"], day], sort=False).cumcount() + 1
    df["external_id"] = (df["source"].map(ID_PREFIX) + day
                         + seq.astype(str).str.zfill(5)).astype(object)
    return df.drop(columns="t")

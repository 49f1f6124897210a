"""Reach figures per city/street/community/grid and the places no post reaches in time.

Households and population count at each building's representative point, key
places at theirs, incidents of the last ``ONEMAP_RESPONSE_INCIDENT_DAYS`` days at
their point; each is in the unit whose polygon holds it. A place is reached within
a break when its fastest post arrives within it (turnout and connectors included).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import shapely
from shapely.geometry import mapping

from geo.coverage.units import read_units
from geo.response.context import ReachContext
from geo.vocabulary import UNIT_LEVELS

LEVELS = UNIT_LEVELS


def _unit_of(unit_geoms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the unit holding each point (-1: none)."""
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(unit_geoms) == 0:
        return out
    pi, ui = shapely.STRtree(unit_geoms).query(points, predicate="intersects")
    first = np.unique(pi, return_index=True)[1]
    out[pi[first]] = ui[first]
    return out


def _bin(unit: np.ndarray, n: int, weight=None) -> np.ndarray:
    ok = unit >= 0
    w = None if weight is None else np.asarray(weight, dtype=float)[ok]
    return np.bincount(unit[ok], weights=w, minlength=n)


def _key(m: float) -> str:
    return f"{m:g}"


@dataclass(frozen=True)
class Tally:
    """Households, population, key places and incidents per unit (one array each)."""

    households: np.ndarray
    population: np.ndarray
    key_places: np.ndarray
    incidents: np.ndarray

    def row(self, j: int) -> dict[str, int]:
        """Unit ``j``'s figures, rounded to whole numbers."""
        return {f.name: int(round(getattr(self, f.name)[j])) for f in fields(self)}


def response_summary(ctx: ReachContext, conn, level: str, minutes) -> dict:
    """Figures per unit of ``level`` for each break, and the unreached list.

    ``unreached`` lists first the units with households no post reaches within the
    largest break (most of their households unreached first, then the slowest to
    reach), then the key places no post reaches.
    """
    units = read_units(conn, level, ctx.projector)
    geoms = units["geometry"].to_numpy()
    n = len(units)
    b, p, inc = ctx.buildings.frame, ctx.key_places.frame, ctx.incidents.frame
    bu = _unit_of(geoms, b["geometry"].to_numpy())
    pu = _unit_of(geoms, p["geometry"].to_numpy())
    iu = _unit_of(geoms, inc["geometry"].to_numpy())
    hh = b["households"].to_numpy(dtype=float)
    pop = b["population"].to_numpy(dtype=float)
    best_b = ctx.building_s.min(axis=0) if len(ctx.posts) else np.full(len(b), np.inf)
    best_p = ctx.key_place_s.min(axis=0) if len(ctx.posts) else np.full(len(p), np.inf)
    best_i = ctx.incident_s.min(axis=0) if len(ctx.posts) else np.full(len(inc), np.inf)
    tot = Tally(_bin(bu, n, hh), _bin(bu, n, pop), _bin(pu, n), _bin(iu, n))
    reached: dict[str, Tally] = {}
    for m in minutes:
        t = m * 60.0
        reached[_key(m)] = Tally(_bin(bu, n, hh * (best_b <= t)), _bin(bu, n, pop * (best_b <= t)),
                                 _bin(pu, n, best_p <= t), _bin(iu, n, best_i <= t))
    out_units = []
    for j in range(n):
        r = {}
        for k, fig in reached.items():
            h = float(tot.households[j])
            r[k] = fig.row(j)
            r[k]["household_share"] = round(fig.households[j] / h, 4) if h > 0 else None
        out_units.append({"code": units["code"].iat[j], "name": units["name"].iat[j],
                          **tot.row(j), "reached": r})
    return {"level": level, "mode": ctx.mode, "minutes": list(minutes),
            "window": {"from": ctx.since.isoformat(), "to": ctx.until.isoformat(),
                       "incidents_read_at": None if ctx.incidents_read_at is None
                       else ctx.incidents_read_at.isoformat(timespec="seconds"),
                       "incidents_stale": ctx.incidents_stale},
            "posts": len(ctx.posts), "units": out_units,
            "unreached": _unreached(ctx, units, bu, best_b, best_p, max(minutes))}


def _unreached(ctx: ReachContext, units, bu, best_b, best_p, minutes: float) -> dict:
    t = minutes * 60.0
    b = ctx.buildings.frame
    hh = b["households"].to_numpy(dtype=float)
    n = len(units)
    miss = (best_b > t) & (hh > 0)
    missing = _bin(bu, n, hh * miss)
    total = _bin(bu, n, hh)
    first = np.full(n, np.inf)
    ok = bu >= 0
    np.minimum.at(first, bu[ok], np.where(hh[ok] > 0, best_b[ok], np.inf))
    feats = []
    rows = [j for j in range(n) if missing[j] > 0]
    rows.sort(key=lambda j: (-missing[j] / total[j], -min(first[j], 1e12), -missing[j]))
    lonlat = units["lonlat"].to_numpy()
    for j in rows:
        feats.append({"type": "Feature", "geometry": mapping(lonlat[j]), "properties": {
            "kind": "unit", "code": units["code"].iat[j], "name": units["name"].iat[j],
            "households": int(total[j]), "households_unreached": int(missing[j]),
            "share_unreached": round(float(missing[j] / total[j]), 4),
            "first_reached_s": None if not np.isfinite(first[j]) else round(float(first[j]), 1),
            "minutes": minutes}})
    p = ctx.key_places.frame
    far = np.flatnonzero(best_p > t)
    if len(far):
        pts = ctx.projector.to_lonlat(p["geometry"].to_numpy()[far])
        for i, g in zip(far, pts, strict=True):
            s = best_p[i]
            feats.append({"type": "Feature", "geometry": mapping(g), "properties": {
                "kind": "key_place", "name": p["name"].iat[i], "place_kind": p["kind"].iat[i],
                "seconds": None if not np.isfinite(s) else round(float(s), 1),
                "minutes": minutes}})
    return {"type": "FeatureCollection", "features": feats}

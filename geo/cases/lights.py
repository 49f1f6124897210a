"""Red / yellow / green for the cases open at a moment (ARCHITECTURE.md §10, 电子督办).

An open case at ``at`` (received by then, not done by then) is red once ``at`` is past
its time limit, yellow once the share ``share`` (0.8) of its limit
(from ``occurred_at`` to the limit) has passed, green otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.cases.figures import done_at, from_us
from geo.cases.table import Cases, check_level

LIGHTS = ("red", "yellow", "green")
METHOD = ("open case at `at` (occurred by then, not resolved/closed by then): red when `at` "
          "is after its time limit (due_at, else occurred_at + the category's hours), yellow "
          "when at least {share:.0%} of the time from occurred_at to the limit has passed, "
          "green otherwise")


def light_codes(cases: Cases, at: int, share: float) -> np.ndarray:
    """Per case: 0 red, 1 yellow, 2 green, −1 not open at ``at``."""
    occ = cases.frame["occurred_at"].to_numpy()
    open_ = (occ <= at) & ~done_at(cases, at)
    limit = cases.limit
    red = at > limit
    yellow = (at - occ) >= share * (limit - occ)
    code = np.where(red, 0, np.where(yellow, 1, 2))
    return np.where(open_, code, -1)


def _table(index: np.ndarray, light: np.ndarray, n: int) -> np.ndarray:
    ok = (light >= 0) & (index >= 0)
    return np.bincount(index[ok] * 3 + light[ok], minlength=n * 3).reshape(n, 3)


def warnings(cases: Cases, level: str, at: int, *, share: float = 0.8, limit: int = 1000,
             light: str | None = None) -> dict:
    """Counts of open cases by light per unit and per department, and the list.

    Parameters
    ----------
    cases : Cases
        The cases.
    level : str
        Unit level.
    at : int
        The moment (µs since the Unix epoch).
    share : float
        Share of the limit after which a case is yellow.
    limit : int
        Most cases listed (red first, most overdue first).
    light : str, optional
        List only cases of this light.
    """
    check_level(level)
    codes = light_codes(cases, at, share)
    unit = cases.unit_codes[level]
    if level == "city":
        names = [("city", "全市")]
    else:
        names = list(zip(cases.units[level]["code"], cases.units[level]["name"], strict=True))
    per_unit = _table(unit, codes, len(names))
    dept, labels = cases.codes("department")
    labels = [*labels, None]  # code −1 (no department) is the last row
    per_dept = _table(np.where(dept < 0, len(labels) - 1, dept), codes, len(labels))
    units = [{"code": c, "name": n, **dict(zip(LIGHTS, map(int, per_unit[i]), strict=True))}
             for i, (c, n) in enumerate(names)]
    departments = [{"department": lab,
                    **dict(zip(LIGHTS, map(int, per_dept[i]), strict=True))}
                   for i, lab in enumerate(labels) if per_dept[i].sum()]
    return {"level": level, "at": from_us(at).isoformat(), "units": units,
            "by_department": departments, "cases": case_features(cases, codes, at, limit, light),
            "method": METHOD.format(share=share)}


def case_features(cases: Cases, codes: np.ndarray, at: int, limit: int,
                  light: str | None) -> dict:
    """The open cases as a GeoJSON FeatureCollection, red first, most overdue first."""
    wanted = codes >= 0 if light is None else codes == LIGHTS.index(light)
    rows = np.flatnonzero(wanted)
    late = at - cases.limit[rows]
    rows = rows[np.lexsort((-late, codes[rows]))]
    total = len(rows)
    rows = rows[:limit]
    f = cases.frame.iloc[rows]
    us = pd.DatetimeIndex(pd.to_datetime(f["occurred_at"].to_numpy(), unit="us", utc=True))
    lim = pd.DatetimeIndex(pd.to_datetime(cases.limit[rows], unit="us", utc=True))
    cols = {
        "id": f["id"].tolist(), "source": f["source"].tolist(),
        "external_id": f["external_id"].tolist(), "category": f["category"].tolist(),
        "department": f["department"].tolist(), "status": f["status"].tolist(),
        "grid": f["grid"].tolist(), "community": f["community"].tolist(),
        "occurred_at": [t.isoformat() for t in us], "limit_at": [t.isoformat() for t in lim],
        "light": [LIGHTS[c] for c in codes[rows]],
        "hours_past_limit": np.round((at - cases.limit[rows]) / 3.6e9, 3).tolist(),
    }
    names = list(cols)
    lon, lat = f["lon"].tolist(), f["lat"].tolist()
    feats = [{"type": "Feature", "id": values[0], "properties": dict(zip(names, values,
                                                                         strict=True)),
              "geometry": {"type": "Point", "coordinates": [x, y]}}
             for values, x, y in zip(zip(*cols.values(), strict=True), lon, lat, strict=True)]
    return {"type": "FeatureCollection", "numberMatched": total, "numberReturned": len(feats),
            "features": feats}

"""The demo city's case flow (ARCHITECTURE.md §8, §10): departments, limits, times, satisfaction.

Drawn from its own random stream (``case-flow``), after everything else, so no other
layer's numbers move. What is planted:

* every case goes to the department of its category (livelihood split between 住建局
  and 市场监管局); 12345 cases often carry a ``due_at`` (the hotline's own limit);
* a **slow department** (住建局): its cases take three times as long, more are
  unsatisfied and sent back — the lowest satisfaction of all departments;
* a **troubled community** (the one with the highest severity-weighted case rate per
  1,000 households): its cases take four times as long, a quarter of those of its last
  60 days are still open (积案), its callers are the least satisfied;
* a **calm community** (the lowest such rate): fast, satisfied.

Only ``status`` and ``resolved_at`` of the slowed cases change (by the rule the
generator already uses: done when the slower delay ends before the period does).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import shapely

from geo.demo.spec import TZ

DEPARTMENTS = {"dispute": "司法局", "public_order": "公安分局", "hazard": "应急管理局",
               "livelihood": "住建局", "city_management": "城市管理局", "other": "街道办事处"}
LIVELIHOOD_SPLIT = ("住建局", "市场监管局")
SLOW_DEPARTMENT = "住建局"
DUE_HOURS = {"hazard": 24, "public_order": 24, "dispute": 72}  # 12345's own limits
SEVERITY = {"public_order": 3.0, "hazard": 3.0, "dispute": 2.0}  # as the index's default
SATISFACTION = ("satisfied", "basic", "unsatisfied")
CASE_COLUMNS = ["department", "dispatched_at", "due_at", "closed_at", "satisfaction",
                "reopened", "routed_from"]
_P_SAT = {"normal": (0.70, 0.22, 0.08), "slow": (0.30, 0.30, 0.40),
          "troubled": (0.25, 0.30, 0.45), "calm": (0.88, 0.11, 0.01)}


def community_of(points: np.ndarray, comms: list) -> np.ndarray:
    """Community code of each point (None outside every community)."""
    geoms = np.array([c.geom for c in comms], dtype=object)
    tree = shapely.STRtree(geoms)
    pts, hit = tree.query(points, predicate="within")
    out = np.full(len(points), None, dtype=object)
    codes = np.array([c.code for c in comms], dtype=object)
    out[pts] = codes[hit]
    return out


def _pick_communities(df: pd.DataFrame, comm: np.ndarray, buildings: pd.DataFrame):
    hh = buildings.groupby("community_code")["households"].sum()
    hh = hh[hh >= 200]
    weight = df["category"].map(SEVERITY).fillna(1.0).to_numpy()
    weight = weight + (df["source"].to_numpy() == "petition")
    score = pd.Series(weight).groupby(comm).sum().reindex(hh.index).fillna(0)
    rate = (score / hh * 1000).sort_values(kind="stable")
    return str(rate.index[-1]), str(rate.index[0])


def add_case_flow(df: pd.DataFrame, comms: list, buildings: pd.DataFrame, start: date,
                  end: date, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """The incidents with case-flow fields, and what was planted (for the ground truth)."""
    df = df.copy()
    n = len(df)
    comm = community_of(df["geometry"].to_numpy(), comms)
    troubled, calm = _pick_communities(df, comm, buildings)
    cat = df["category"].to_numpy()
    dept = np.array([DEPARTMENTS[c] for c in cat], dtype=object)
    live = cat == "livelihood"
    dept[live] = rng.choice(LIVELIHOOD_SPLIT, int(live.sum()), p=(0.55, 0.45))
    occurred = df["occurred_at"]
    horizon = pd.Timestamp(end, tz=TZ)
    delay = (df["resolved_at"] - occurred).dt.total_seconds().to_numpy()
    factor = np.ones(n)
    factor[dept == SLOW_DEPARTMENT] = 3.0
    factor[comm == troubled] = 4.0
    factor[comm == calm] = 0.5
    new_delay = np.round(delay * factor)
    resolved = occurred + pd.to_timedelta(new_delay, unit="s")
    was_done = df["resolved_at"].notna().to_numpy()
    done = was_done & (resolved < horizon).to_numpy()
    recent = (horizon - occurred).dt.total_seconds().to_numpy() < 60 * 86_400
    piled = (comm == troubled) & recent & (rng.random(n) < 0.25)
    done &= ~piled
    age = (horizon - occurred).dt.total_seconds().to_numpy()
    status = df["status"].to_numpy().astype(object)
    status[~done & was_done] = np.where(age[~done & was_done] < 86_400, "received",
                                        "dispatched")
    df["status"] = status
    df["resolved_at"] = resolved.where(done)
    # dispatched about an hour after the call, never after the resolution
    lag = pd.to_timedelta(np.round(rng.lognormal(np.log(3600), 0.6, n)), unit="s")
    dispatched = (occurred + lag)
    dispatched = dispatched.where(~done | (dispatched <= df["resolved_at"]), df["resolved_at"])
    df["dispatched_at"] = dispatched.where(status != "received")
    df["department"] = dept.astype(object)
    src = df["source"].to_numpy()
    hours = np.array([DUE_HOURS.get(c, 120) for c in cat], dtype=float)
    has_due = (src == "12345") & (rng.random(n) < 0.6)
    df["due_at"] = (occurred + pd.to_timedelta(hours * 3600, unit="s")).where(has_due)
    close_lag = pd.to_timedelta(np.round(rng.uniform(2, 48, n) * 3600), unit="s")
    closed = (df["resolved_at"] + close_lag).where(status == "closed")
    df["closed_at"] = closed.where(closed.isna() | (closed < horizon), df["resolved_at"])
    kind = np.full(n, "normal", dtype=object)
    kind[dept == SLOW_DEPARTMENT] = "slow"
    kind[comm == troubled] = "troubled"
    kind[comm == calm] = "calm"
    rated = done & (rng.random(n) < np.where(src == "12345", 0.75, 0.35))
    u = rng.random(n)
    sat = np.full(n, None, dtype=object)
    for k, (p_s, p_b, _) in _P_SAT.items():
        m = rated & (kind == k)
        sat[m] = np.where(u[m] < p_s, "satisfied", np.where(u[m] < p_s + p_b, "basic",
                                                             "unsatisfied"))
    df["satisfaction"] = sat
    v = rng.random(n)
    reopened = np.where(sat == "unsatisfied", (v < 0.5).astype(int) + (v < 0.15), 0)
    reopened = np.where((sat != "unsatisfied") & done & (v < 0.03), 1, reopened)
    df["reopened"] = reopened.astype(np.int64)
    routed = (src == "12345") & np.isin(cat, ["public_order", "dispute"]) & (rng.random(n) < .2)
    df["routed_from"] = np.where(routed, "110", None).astype(object)
    names = {c.code: c.name for c in comms}
    truth = {
        "departments": sorted(set(DEPARTMENTS.values()) | set(LIVELIHOOD_SPLIT)),
        "limits_hours": {"hazard": 24, "public_order": 24, "dispute": 72, "others": 120},
        "due_at": "60 % of 12345 cases carry due_at (hazard/public_order 24 h, dispute 72 h, "
                  "others 120 h)",
        "slow_department": SLOW_DEPARTMENT,
        "slow_factor": 3.0,
        "troubled_community": {"code": troubled, "name": names[troubled], "slow_factor": 4.0,
                               "open_share_last_60_days": 0.25},
        "calm_community": {"code": calm, "name": names[calm]},
        "satisfaction_probabilities": {k: dict(zip(SATISFACTION, p, strict=True))
                                       for k, p in _P_SAT.items()},
    }
    return df, truth

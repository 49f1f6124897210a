"""A hand-built city for the case-flow tests, and figures computed apart from the product.

Three communities in two streets, four grids (boxes), 400 cases with every case-flow
field drawn at random (seeded), some outside every grid (they count for the city only).
The reference figures are plain pandas on the generated table: units come from the
boxes the points fall in, not from the database.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

AT = pd.Timestamp("2026-10-20T12:00:00+08:00").tz_convert("UTC")
T0 = pd.Timestamp("2026-09-01T00:00:00+08:00").tz_convert("UTC")
T1 = pd.Timestamp("2026-10-20T00:00:00+08:00").tz_convert("UTC")
HOURS = {"hazard": 24, "public_order": 24, "dispute": 72}
OTHERS = 120

ADMIN = [("D1", "测试区", "district", None, (118.00, 36.70, 118.20, 36.90)),
         ("S1", "一街道", "street", "D1", (118.00, 36.70, 118.10, 36.90)),
         ("S2", "二街道", "street", "D1", (118.10, 36.70, 118.20, 36.90)),
         ("C1", "甲社区", "community", "S1", (118.00, 36.70, 118.05, 36.90)),
         ("C2", "乙社区", "community", "S1", (118.05, 36.70, 118.10, 36.90)),
         ("C3", "丙社区", "community", "S2", (118.10, 36.70, 118.20, 36.90))]
GRIDS = [("G1", "C1", (118.00, 36.70, 118.05, 36.80)), ("G2", "C1", (118.00, 36.80, 118.05, 36.90)),
         ("G3", "C2", (118.05, 36.70, 118.10, 36.90)), ("G4", "C3", (118.10, 36.70, 118.15, 36.90))]
# (118.15..118.20) lies in C3 but in no grid: cases there count for the city only.
DEPARTMENTS = ["城管局", "住建局", "公安分局", "市场监管局"]
CATS = ["dispute", "public_order", "hazard", "livelihood", "city_management", "other"]


def admin_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [a[0] for a in ADMIN], "name": [a[1] for a in ADMIN],
         "level": [a[2] for a in ADMIN], "parent_code": [a[3] for a in ADMIN]},
        geometry=[shapely.box(*a[4]) for a in ADMIN], crs=4326)


def grid_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [g[0] for g in GRIDS], "name": [g[0] + "网格" for g in GRIDS],
         "community_code": [g[1] for g in GRIDS]},
        geometry=[shapely.box(*g[2]) for g in GRIDS], crs=4326)


def _iso(s: pd.Series) -> list:
    return [None if pd.isna(t) else t.isoformat() for t in s]


def _seconds(s: pd.Series) -> pd.Series:
    return pd.Series(pd.DatetimeIndex(s).floor("s").as_unit("ns"), index=s.index)


def cases_table(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """The cases as a pandas table (times as UTC Timestamps)."""
    rng = np.random.default_rng(seed)
    occ = T0 + pd.to_timedelta(rng.uniform(0, 55 * 24, n), unit="h")
    occ = pd.DatetimeIndex(occ.floor("s")).as_unit("ns")
    cat = rng.choice(CATS, n)
    status = rng.choice(["received", "dispatched", "resolved", "closed"], n, p=[.1, .2, .4, .3])
    done = np.isin(status, ["resolved", "closed"])
    took = pd.to_timedelta(np.round(rng.exponential(60, n), 3), unit="h").as_unit("ns")
    resolved = pd.Series((occ + took).as_unit("ns")).where(done & (rng.random(n) > 0.05))
    closed = (resolved + pd.to_timedelta(rng.uniform(1, 30, n), unit="h")).where(
        status == "closed")
    # some closed cases carry only closed_at
    closed = closed.where(~(resolved.isna() & (status == "closed")),
                          pd.Series((occ + took).as_unit("ns")))
    due = pd.Series(occ + pd.to_timedelta(rng.integers(12, 200, n), unit="h")).where(
        rng.random(n) < 0.3)
    dispatched = pd.Series(occ + pd.Timedelta(hours=1)).where(status != "received")
    sat = pd.Series(rng.choice(["满意", "基本满意", "不满意"], n)).where(
        done & (rng.random(n) < 0.7))
    source = rng.choice(["12345", "110", "grid", "petition"], n)
    routed = pd.Series("110", index=range(n)).where((source == "12345") & (rng.random(n) < .3))
    lon = rng.uniform(118.001, 118.199, n)
    lat = rng.uniform(36.701, 36.899, n)
    resolved, closed, due = _seconds(resolved), _seconds(closed), _seconds(due)
    return pd.DataFrame({
        "external_id": [f"T{i:04d}" for i in range(n)], "source": source, "category": cat,
        "subcategory": rng.choice(["噪音", "占道"], n), "occurred_at": occ, "status": status,
        "resolved_at": resolved, "closed_at": closed, "due_at": due,
        "dispatched_at": dispatched, "department": rng.choice(DEPARTMENTS, n),
        "satisfaction": sat, "reopened": rng.choice([0, 0, 0, 1, 2], n), "routed_from": routed,
        "lon": lon, "lat": lat})


def incident_frame(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """The table as the loader takes it (times as ISO text, Chinese satisfaction)."""
    out = table.drop(columns=["lon", "lat"]).copy()
    for c in ("occurred_at", "resolved_at", "closed_at", "due_at", "dispatched_at"):
        out[c] = _iso(out[c])
    out["satisfaction"] = out["satisfaction"].astype(object).where(out["satisfaction"].notna(),
                                                                    None)
    out["routed_from"] = out["routed_from"].astype(object).where(out["routed_from"].notna(), None)
    return gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(table.lon, table.lat), crs=4326)


# --- the independent reference ---------------------------------------------------------

def units_of(table: pd.DataFrame) -> pd.DataFrame:
    """grid / community / street / district of each case from the boxes."""
    out = pd.DataFrame(index=table.index, columns=["grid", "community", "street", "district"],
                       dtype=object)
    for code, community, (x0, y0, x1, y1) in GRIDS:
        inside = (table.lon >= x0) & (table.lon < x1) & (table.lat >= y0) & (table.lat < y1)
        out.loc[inside, "grid"] = code
        out.loc[inside, "community"] = community
    parent = {a[0]: a[3] for a in ADMIN}
    out["street"] = out["community"].map(parent)
    out["district"] = out["street"].map(parent)
    out["city"] = "city"
    return out


def limit_of(table: pd.DataFrame) -> pd.Series:
    hours = table.category.map(lambda c: HOURS.get(c, OTHERS))
    return table.due_at.fillna(table.occurred_at + pd.to_timedelta(hours, unit="h"))


def reference_summary(table: pd.DataFrame, level: str, at=AT, t0=T0, t1=T1,
                      by: str | None = None) -> pd.DataFrame:
    """Every §10 figure per unit (and group), by plain pandas."""
    t = table.join(units_of(table))
    t["limit"] = limit_of(table)
    t["done_time"] = t.resolved_at.fillna(t.closed_at)
    t = t[(t.occurred_at >= t0) & (t.occurred_at < t1) & (t.occurred_at <= at)]
    t = t[t[level].notna()]
    t["is_done"] = t.status.isin(["resolved", "closed"]) & (
        t.done_time.isna() | (t.done_time <= at))
    t["on_time"] = t.is_done & t.done_time.notna() & (t.done_time <= t["limit"])
    t["overdue"] = ~t.is_done & (t["limit"] < at)
    t["hours"] = ((t.done_time - t.occurred_at).dt.total_seconds() / 3600).where(
        t.is_done & t.done_time.notna())
    t["rated"] = t.satisfaction.notna()
    t["good"] = t.satisfaction.isin(["满意", "基本满意"])
    t["reopen"] = t.is_done & (t.reopened > 0)
    t["from110"] = t.routed_from == "110"
    keys = [level] if by is None else [level, by]
    rows = []
    for key, g in t.groupby(keys):
        key = key if isinstance(key, tuple) else (key,)
        n, d = len(g), int(g.is_done.sum())
        rated = int(g.rated.sum())
        rows.append({
            "code": key[0], **({"group": key[1]} if by else {}),
            "received": n, "done": d, "closure_rate": d / n,
            "on_time_rate": g.on_time.sum() / d if d else None,
            "median_hours": g.hours.median() if g.hours.notna().any() else None,
            "p90_hours": g.hours.quantile(0.9) if g.hours.notna().any() else None,
            "overdue_open": int(g.overdue.sum()),
            "satisfaction_rate": g.good.sum() / rated if rated else None,
            "reopen_rate": g.reopen.sum() / d if d else None,
            "from_110_share": g.from110.sum() / n})
    return pd.DataFrame(rows)


def reference_lights(table: pd.DataFrame, level: str, at=AT, share: float = 0.8):
    """Counts of open cases by light per unit; and the light per external_id."""
    t = table.join(units_of(table))
    lim = limit_of(table)
    done_time = t.resolved_at.fillna(t.closed_at)
    is_done = t.status.isin(["resolved", "closed"]) & (done_time.isna() | (done_time <= at))
    open_ = (t.occurred_at <= at) & ~is_done
    light = pd.Series("green", index=t.index)
    light[(at - t.occurred_at) >= share * (lim - t.occurred_at)] = "yellow"
    light[at > lim] = "red"
    t = t.assign(light=light)[open_]
    per_unit = t[t[level].notna()].groupby([level, "light"]).size().unstack(fill_value=0)
    return per_unit, dict(zip(t.external_id, t.light, strict=True))

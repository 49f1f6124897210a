"""Case-flow figures and warnings against an independent pandas reference (ARCHITECTURE.md §10)."""

from __future__ import annotations

import math

import _cases_data as cases_data
import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from geo.cases.figures import Window, summary, to_us
from geo.cases.lights import warnings
from geo.cases.settings import CaseSettings, IndexSettings
from geo.cases.table import CaseCache, read_cases
from geo.errors import InvalidInput, NotEnoughData
from geo.io.load import load_frame
from geo.io.settings import IngestSettings
from geo.settings import ServiceAreaSettings

FIELDS = ["received", "done", "closure_rate", "on_time_rate", "median_hours", "p90_hours",
          "overdue_open", "satisfaction_rate", "reopen_rate", "from_110_share"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return cases_data.cases_table()


@pytest.fixture()
def case_db(empty_db, table):
    ingest, area = IngestSettings(), ServiceAreaSettings()
    load_frame(empty_db, "admin_areas", cases_data.admin_frame(), progress=False,
               allow_outside=True, settings=ingest, area=area)
    load_frame(empty_db, "grids", cases_data.grid_frame(), progress=False, allow_outside=True,
               settings=ingest, area=area)
    report = load_frame(empty_db, "incidents", cases_data.incident_frame(table), progress=False,
                        allow_outside=True, actor="test", settings=ingest, area=area)
    assert report.inserted == len(table)
    return empty_db


def _window(at=cases_data.AT, t0=cases_data.T0, t1=cases_data.T1) -> Window:
    return Window(to_us(t0.to_pydatetime()), to_us(t1.to_pydatetime()), to_us(at.to_pydatetime()))


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and abs(float(a) - float(b)) <= 1e-9


@pytest.mark.parametrize("level", ["city", "district", "street", "community", "grid"])
@pytest.mark.parametrize("by", [None, "department", "category", "source"])
def test_summary_equals_reference(case_db, table, level, by):
    got = summary(read_cases(case_db, settings=CaseSettings()), level, _window(), by)
    ref = cases_data.reference_summary(table, level, by=by)
    rows = {(u["code"], u.get("group")): u for u in got["units"] if u["received"]}
    want = {(r["code"], r.get("group")): r for r in ref.to_dict("records")}
    assert set(rows) == set(want)
    for key, r in want.items():
        for f in FIELDS:
            assert _same(r[f], rows[key][f]), (key, f, r[f], rows[key][f])
    assert got["method"].startswith("received:")


def test_reference_is_not_trivial(table):
    ref = cases_data.reference_summary(table, "grid")
    assert ref.received.sum() > 100 and ref.overdue_open.sum() > 0
    assert 0 < ref.on_time_rate.min() < 1 and ref.median_hours.notna().all()


@pytest.mark.parametrize("level", ["city", "street", "community", "grid"])
@pytest.mark.parametrize("at", [cases_data.AT, cases_data.AT - pd.Timedelta(days=10)])
def test_lights_equal_reference(case_db, table, level, at):
    got = warnings(read_cases(case_db, settings=CaseSettings()), level, to_us(at.to_pydatetime()),
                   limit=10_000)
    per_unit, per_case = cases_data.reference_lights(table, level, at)
    for u in got["units"]:
        for light in ("red", "yellow", "green"):
            want = int(per_unit[light].get(u["code"], 0)) if light in per_unit else 0
            assert u[light] == want, (u["code"], light)
    listed = {f["properties"]["external_id"]: f["properties"]["light"]
              for f in got["cases"]["features"]}
    assert listed == per_case
    lights = [f["properties"]["light"] for f in got["cases"]["features"]]
    assert lights == sorted(lights, key=["red", "yellow", "green"].index)


def test_light_boundaries_exact(case_db):
    """A case exactly at 80 % of its limit is yellow; a second past its limit is red."""
    cases = read_cases(case_db, settings=CaseSettings())
    f = cases.frame
    i = int(f.index[(f.status == "received")][0])
    occ, lim = int(f.occurred_at.iat[i]), int(cases.limit[i])
    from geo.cases.lights import light_codes

    at80 = occ + int(round(0.8 * (lim - occ)))
    assert light_codes(cases, at80, 0.8)[i] == 1
    assert light_codes(cases, at80 - 1, 0.8)[i] == 2
    assert light_codes(cases, lim, 0.8)[i] == 1
    assert light_codes(cases, lim + 1, 0.8)[i] == 0


def test_bad_requests(case_db):
    cases = read_cases(case_db, settings=CaseSettings())
    with pytest.raises(InvalidInput, match="unknown level"):
        summary(cases, "province", _window())
    with pytest.raises(InvalidInput, match="unknown group"):
        summary(cases, "city", _window(), "weather")
    empty = Window(to_us(pd.Timestamp("2020-01-01", tz="UTC").to_pydatetime()),
                   to_us(pd.Timestamp("2020-02-01", tz="UTC").to_pydatetime()), _window().at)
    with pytest.raises(NotEnoughData, match="no cases"):
        summary(cases, "city", empty)


def test_cache_reads_again_after_a_change(case_db):
    cache = CaseCache(settings=CaseSettings())
    first = cache.get(case_db)
    assert cache.get(case_db) is first
    with case_db.begin() as conn:
        conn.execute(text("UPDATE incidents SET department = '新部门' WHERE id = 1"))
    assert cache.get(case_db) is not first


def _reference_repeats(table: pd.DataFrame, radius_m: float, days: float, at) -> dict:
    """Every pair at once (n × n): external_id → external_id of the case it repeats."""
    import numpy as np

    r = 6_371_008.8
    lat, lon = np.radians(table.lat.to_numpy()), np.radians(table.lon.to_numpy())
    h = (np.sin((lat[:, None] - lat[None, :]) / 2) ** 2 + np.cos(lat[:, None])
         * np.cos(lat[None, :]) * np.sin((lon[:, None] - lon[None, :]) / 2) ** 2)
    dist = 2 * r * np.arcsin(np.sqrt(h))
    t = table.occurred_at.astype("int64").to_numpy() / 1e9  # seconds
    gap = t[:, None] - t[None, :]  # [later j, earlier i]
    sub = table.subcategory.to_numpy()
    ok = (sub[:, None] == sub[None, :]) & (gap > 0) & (gap <= days * 86400) & (dist <= radius_m)
    ok &= (table.occurred_at <= at).to_numpy()[:, None]
    out = {}
    for j in np.flatnonzero(ok.any(axis=1)):
        cands = np.flatnonzero(ok[j])
        out[table.external_id.iat[j]] = table.external_id.iat[cands[np.argmax(t[cands])]]
    return out


@pytest.mark.parametrize("radius_m, days", [(1500.0, 10.0), (4000.0, 3.0)])
def test_repeats_equal_brute_force(case_db, table, radius_m, days):
    from geo.cases.repeats import repeats

    cases = read_cases(case_db, settings=CaseSettings())
    got = repeats(cases, "community", Window(None, None, _window().at), radius_m=radius_m,
                  days=days, limit=100_000)
    by_id = dict(zip(cases.frame.id, cases.frame.external_id, strict=True))
    links = {x["external_id"]: by_id[x["repeat_of"]] for x in got["links"]}
    want = _reference_repeats(table, radius_m, days, cases_data.AT)
    assert len(want) > 5 and links == want
    ref_units = cases_data.units_of(table)
    for u in got["units"]:
        mask = ref_units.community == u["code"]
        assert u["received"] == int((mask & (table.occurred_at <= cases_data.AT)).sum())
        assert u["repeats"] == sum(1 for e in want if mask[table.external_id == e].any())


HOUSEHOLDS = {"C1": 300, "C2": 120, "C3": 40}  # C3 under 50: no incident rate


def _reference_index(table: pd.DataFrame, month: str) -> pd.DataFrame:
    """The 平安指数 of ARCHITECTURE.md §10 / README by plain pandas (cameras, response out)."""
    import numpy as np

    start = pd.Timestamp(f"{month}-01T00:00:00+08:00").tz_convert("UTC")
    end = (start.tz_convert("Asia/Shanghai") + pd.offsets.MonthBegin(1)).tz_convert("UTC")
    t = table.join(cases_data.units_of(table))
    t = t[(t.occurred_at >= start) & (t.occurred_at < end) & t.community.notna()].copy()
    t["limit"] = cases_data.limit_of(table)
    done_time = t.resolved_at.fillna(t.closed_at)
    done = t.status.isin(["resolved", "closed"]) & (done_time.isna() | (done_time <= end))
    t["late"] = np.where(done, done_time.notna() & (done_time > t["limit"]), t["limit"] < end)
    sev = t.category.map({"public_order": 3, "hazard": 3, "dispute": 2}).fillna(1.0)
    t["sev"] = np.where(t.source == "petition", np.maximum(sev, 2.0), sev)
    t["rated"] = t.satisfaction.notna()
    t["good"] = t.satisfaction.isin(["满意", "基本满意"])
    reps = _reference_repeats(table, 50.0, 30.0, end)
    t["rep"] = t.external_id.isin(list(reps))
    g = t.groupby("community").agg(sev=("sev", "sum"), n=("late", "size"), late=("late", "sum"),
                                   rated=("rated", "sum"), good=("good", "sum"),
                                   rep=("rep", "sum")).reindex(["C1", "C2", "C3"])
    hh = pd.Series(HOUSEHOLDS).where(lambda s: s >= 50)
    raw = pd.DataFrame({"incidents": g.sev / hh * 1000, "overdue": g.late / g.n,
                        "satisfaction": g.good / g.rated.where(g.rated > 0),
                        "repeats": g.rep / g.n})
    weights = {"incidents": 0.40, "overdue": 0.20, "satisfaction": 0.15, "repeats": 0.10}
    out = pd.Series(0.0, index=raw.index)
    for c, w in weights.items():
        x = raw[c].fillna(raw[c].mean())
        span = x.max() - x.min()
        score = (100 * ((x - x.min()) if c == "satisfaction" else (x.max() - x)) / span
                 if span > 1e-12 else pd.Series(100.0, index=x.index))
        out += w * score / sum(weights.values())
    return pd.DataFrame({"index": out, **raw})


def test_index_equals_reference(case_db, table):
    from geo.cases.index import compute_index, risk_level
    from geo.cases.period import Period
    from geo.cases.units import UnitContext

    frame = gpd.GeoDataFrame(
        {"code": ["B1", "B2", "B3"], "households": list(HOUSEHOLDS.values()),
         "community_code": list(HOUSEHOLDS)},
        geometry=[shapely.box(118.01, 36.71, 118.011, 36.711),
                  shapely.box(118.06, 36.71, 118.061, 36.711),
                  shapely.box(118.11, 36.71, 118.111, 36.711)], crs=4326)
    load_frame(case_db, "buildings", frame, progress=False, allow_outside=True,
               settings=IngestSettings(), area=ServiceAreaSettings())
    cases = read_cases(case_db, settings=CaseSettings())
    ctx = UnitContext(providers={})
    want = {m: _reference_index(table, m) for m in ("2026-09", "2026-10")}
    got = compute_index(cases, ctx, case_db, "community", Period.parse("2026-10", "Asia/Shanghai"),
                        weights={"cameras": 0.0}, settings=IndexSettings())
    assert got["weights"] == pytest.approx({"incidents": 0.4 / 0.85, "overdue": 0.2 / 0.85,
                                            "satisfaction": 0.15 / 0.85, "repeats": 0.1 / 0.85})
    for f in got["features"]:
        p = f["properties"]
        ref = want["2026-10"].loc[p["code"]]
        assert p["index"] == pytest.approx(ref["index"], abs=1e-9)
        for c in ("overdue", "satisfaction", "repeats", "incidents"):
            assert _same(ref[c], p["components"][c]["value"]), (p["code"], c)
        change = ref["index"] - want["2026-09"].loc[p["code"], "index"]
        assert p["change"] == pytest.approx(change, abs=1e-9)
        assert p["level"] == risk_level(ref["index"], change, 5.0)
    ranks = sorted(got["features"], key=lambda f: f["properties"]["rank"])
    assert [f["properties"]["index"] for f in ranks] == sorted(
        want["2026-10"]["index"], reverse=True)


@pytest.mark.parametrize("index, change, level", [
    (85, None, "none"), (80, 0.0, "none"), (79.9, None, "blue"), (60, -4.9, "blue"),
    (60, -5.0, "yellow"), (45, None, "yellow"), (39, None, "orange"), (19.9, None, "red"),
    (10, -30, "red"), (82, -6, "blue")])
def test_risk_level_rule(index, change, level):
    from geo.cases.index import risk_level

    assert risk_level(index, change, 5.0) == level


def test_repeats_sized_before_listed(case_db):
    """Too many close pairs are refused with a clear message, before any pair is listed."""
    from geo.cases.repeats import links_in

    f = read_cases(case_db, settings=CaseSettings()).frame
    with pytest.raises(InvalidInput, match="pairs of cases"):
        links_in(f, 5000.0, 30.0, max_pairs=10)


@pytest.mark.parametrize("radius_m, days", [(1500.0, 10.0), (800.0, 20.0), (5000.0, 60.0)])
def test_repeat_flags_equal_the_linked_repeats(case_db, radius_m, days):
    """The flags found without listing pairs are the later side of the listed links."""
    import numpy as np

    from geo.cases.repeats import repeat_flags, repeat_links

    cases = read_cases(case_db, settings=CaseSettings())
    late, _ = repeat_links(cases, radius_m, days)
    want = np.zeros(len(cases), bool)
    want[late] = True
    assert 5 < want.sum() < len(cases)
    assert np.array_equal(repeat_flags(cases, radius_m, days), want)


def _brute_flags(group, lon, lat, occ, radius_m, days):
    """Every pair at once (haversine in float64 on the sphere of radius 6,371,008.8 m)."""
    import numpy as np

    la, lo = np.radians(lat), np.radians(lon)
    h = (np.sin((la[:, None] - la[None, :]) / 2) ** 2 + np.cos(la[:, None]) * np.cos(la[None, :])
         * np.sin((lo[:, None] - lo[None, :]) / 2) ** 2)
    dist = 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.minimum(h, 1)))
    gap = occ[:, None] - occ[None, :]
    ok = ((group[:, None] == group[None, :]) & (group[:, None] >= 0) & (gap > 0)
          & (gap <= days * 86_400_000_000) & (dist <= radius_m))
    return ok.any(axis=1)


@pytest.mark.parametrize("where", ["city", "antimeridian", "pole", "one spot"])
def test_earlier_within_equals_every_pair(where):
    """Buckets wrap at ±180°, widen near the poles, and stack many cases on one spot."""
    import numpy as np

    from geo.cases.repeats import earlier_within

    rng = np.random.default_rng(5)
    n = 1500
    lon0, lat0, spread = {"city": (118.05, 36.8, 0.01), "antimeridian": (179.9995, -16.0, 0.002),
                          "pole": (0.0, 89.9993, 0.002),
                          "one spot": (118.0, 36.0, 1e-6)}[where]
    lon = (lon0 + rng.uniform(-spread, spread, n) + 180) % 360 - 180
    lat = np.clip(lat0 + rng.uniform(-spread, spread, n), -90, 90)
    if where == "pole":
        lon = rng.uniform(-180, 180, n)
    occ = rng.integers(0, 40 * 86_400_000_000, n)
    occ[::7] = occ[1::7][: len(occ[::7])] if len(occ[1::7]) >= len(occ[::7]) else occ[::7]
    group = rng.integers(-1, 4, n)
    want = _brute_flags(group, lon, lat, occ, 120.0, 5.0)
    assert 10 < want.sum() < n - 10 or where == "one spot"
    got = earlier_within(group, lon, lat, occ, 120.0, 5.0, max_candidates=997)
    assert np.array_equal(got, want)
    rows = np.arange(0, n, 3)
    assert np.array_equal(earlier_within(group, lon, lat, occ, 120.0, 5.0, rows=rows), want[rows])

def test_cache_reads_only_changes_and_equals_a_full_read(case_db):
    """After updates, inserts and deletes the cache reads only the changed rows, and what it
    holds (cases, unit codes, text codes, repeat flags) equals a fresh full read."""
    import numpy as np

    from geo.cases import table as case_table
    from geo.cases.repeats import repeat_flags

    cache = CaseCache(settings=CaseSettings())
    first = cache.get(case_db)
    repeat_flags(first, 1500.0, 10.0)  # computed before the change: carried or redone after
    first.codes("department")
    with case_db.begin() as conn:
        conn.execute(text("UPDATE incidents SET status = 'closed', closed_at = occurred_at "
                          "+ interval '3 hours', department = '新部门' WHERE id % 29 = 1"))
        conn.execute(text("UPDATE incidents SET occurred_at = occurred_at - interval '2 days' "
                          "WHERE id % 31 = 2"))
        conn.execute(text("UPDATE incidents SET geom = ST_Translate(geom, 0.004, 0) "
                          "WHERE id % 37 = 3"))
        conn.execute(text("DELETE FROM incidents WHERE id % 41 = 4"))
        conn.execute(text(
            "INSERT INTO incidents (external_id, source, category, subcategory, occurred_at, "
            "status, h3, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11, h3_12, grid_id, geom) "
            "SELECT 'N' || id, source, category, subcategory, occurred_at + interval '1 day', "
            "'received', h3, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11, h3_12, grid_id, "
            "ST_Translate(geom, 0.0001, 0) FROM incidents WHERE id % 43 = 5"))
    calls = []
    full_read = case_table._read_all
    case_table._read_all = lambda *a: calls.append(a) or full_read(*a)
    try:
        got = cache.get(case_db)
    finally:
        case_table._read_all = full_read
    assert calls == [] and got is not first and got.key == cache.key
    want = read_cases(case_db, settings=CaseSettings())
    assert got.key == want.key
    pd.testing.assert_frame_equal(got.frame, want.frame)
    for level in want.unit_codes:
        assert np.array_equal(got.unit_codes[level], want.unit_codes[level])
    for column in ("department", "category", "status"):
        g_codes, g_labels = got.codes(column)
        w_codes, w_labels = want.codes(column)
        g = np.array([*g_labels, None], dtype=object)[g_codes]
        w = np.array([*w_labels, None], dtype=object)[w_codes]
        assert (g == w).all()
    assert "_repeat_flags" in got.__dict__
    assert np.array_equal(repeat_flags(got, 1500.0, 10.0), repeat_flags(want, 1500.0, 10.0))


def test_cache_reads_everything_past_the_share(case_db):
    from geo.cases.settings import CaseSettings

    cache = CaseCache(CaseSettings(incremental_share=0.05))
    first = cache.get(case_db)
    with case_db.begin() as conn:
        conn.execute(text("UPDATE incidents SET department = '新部门' WHERE id % 2 = 0"))
    got = cache.get(case_db)
    assert got is not first and "_repeat_flags" not in got.__dict__
    pd.testing.assert_frame_equal(got.frame, read_cases(case_db, settings=CaseSettings()).frame)


def test_unit_context_recomputes_a_component_when_its_layers_change(case_db):
    """A component is kept while its layers stay (a new case does not recompute it) and
    recomputed when one changes (a moved post for the response reach)."""
    from geo.cases.units import DEPENDS_ON, UnitContext

    calls = []

    def provider(engine, level):
        calls.append(level)
        return {"G1": float(len(calls))}

    ctx = UnitContext(providers={"response": provider})
    assert ctx.component(case_db, "response", "grid") == {"G1": 1.0}
    with case_db.begin() as conn:
        conn.execute(text("UPDATE incidents SET department = 'x' WHERE id = 1"))
    assert ctx.component(case_db, "response", "grid") == {"G1": 1.0}
    assert "posts" in DEPENDS_ON["response"] and "roads" in DEPENDS_ON["response"]
    with case_db.begin() as conn:
        conn.execute(text("UPDATE posts SET name = name"))  # bumps the posts version
    assert ctx.component(case_db, "response", "grid") == {"G1": 2.0}
    assert calls == ["grid", "grid"]


def test_cache_after_updates_only_shares_unchanged_columns(case_db):
    """Updates without inserts or deletes keep the rows in place: unchanged columns are the
    same arrays, the hours order is merged, and every figure equals a full read's."""
    import numpy as np

    cache = CaseCache(settings=CaseSettings())
    first = cache.get(case_db)
    with case_db.begin() as conn:
        conn.execute(text("UPDATE incidents SET status = 'resolved', resolved_at = occurred_at "
                          "+ (id % 50) * interval '1 hour' WHERE id % 11 = 0"))
    got = cache.get(case_db)
    want = read_cases(case_db, settings=CaseSettings())
    pd.testing.assert_frame_equal(got.frame, want.frame)
    assert np.shares_memory(got.frame["lon"].to_numpy(), first.frame["lon"].to_numpy())
    assert not np.shares_memory(got.frame["status"].to_numpy(),
                                first.frame["status"].to_numpy())
    h = got.hours[got.hours_order]
    assert sorted(got.hours_order.tolist()) == list(range(len(got)))
    known = h[~np.isnan(h)]
    assert (np.diff(known) >= 0).all() and np.isnan(h[len(known):]).all()
    for level, by in (("grid", None), ("community", "department"), ("city", "category")):
        a, b = summary(got, level, _window(), by), summary(want, level, _window(), by)
        assert a["units"] == b["units"]


@pytest.mark.parametrize("change", [
    "DELETE FROM incidents WHERE id > (SELECT max(id) - 3 FROM incidents)",
    "INSERT INTO incidents (external_id, source, category, subcategory, occurred_at, status, "
    "resolved_at, h3, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11, h3_12, grid_id, geom) "
    "SELECT 'A' || id, source, category, subcategory, occurred_at + interval '3 days', "
    "'resolved', occurred_at + interval '4 days', h3, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11, "
    "h3_12, grid_id, geom FROM incidents WHERE id % 9 = 0"])
def test_cache_after_deletes_at_the_end_or_appends_equals_a_full_read(case_db, change):
    import numpy as np

    from geo.cases.repeats import repeat_flags

    cache = CaseCache(settings=CaseSettings())
    repeat_flags(cache.get(case_db), 1500.0, 10.0)
    with case_db.begin() as conn:
        conn.execute(text("UPDATE incidents SET status = 'closed', closed_at = occurred_at "
                          "+ interval '5 hours' WHERE id % 10 = 3"))
        conn.execute(text(change))
    got, want = cache.get(case_db), read_cases(case_db, settings=CaseSettings())
    pd.testing.assert_frame_equal(got.frame, want.frame)
    assert sorted(got.hours_order.tolist()) == list(range(len(got)))
    assert summary(got, "grid", _window())["units"] == summary(want, "grid", _window())["units"]
    assert np.array_equal(repeat_flags(got, 1500.0, 10.0), repeat_flags(want, 1500.0, 10.0))

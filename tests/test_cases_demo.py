"""The demo city's case flow: planted slow department, troubled and calm communities (§8, §10).

Figures on the demo are recomputed apart from the product: units by a geopandas spatial
join of the generated incidents to the generated grids, rates by pandas.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo.cases.figures import Window, summary, to_us
from geo.cases.index import compute_index
from geo.cases.period import Period
from geo.cases.settings import CaseSettings, IndexSettings
from geo.cases.table import read_cases
from geo.cases.units import UnitContext, providers
from geo.coverage.settings import CoverageSettings
from geo.db.engine import make_engine
from geo.response.settings import ResponseSettings
from geo.settings import ServiceAreaSettings

AT = pd.Timestamp("2026-11-16T00:00:00+08:00")
MONTH = "2026-10"


@pytest.fixture(scope="module")
def engine(small_demo):
    eng = make_engine(small_demo)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def cases(engine):
    return read_cases(engine, settings=CaseSettings())


def _window():
    return Window(None, None, to_us(AT.to_pydatetime()))


def test_slow_department_has_the_lowest_satisfaction(cases, small_demo_truth):
    slow = small_demo_truth["case_flow"]["slow_department"]
    out = summary(cases, "city", _window(), "department")
    rates = {u["group"]: u["satisfaction_rate"] for u in out["units"]}
    assert min(rates, key=rates.get) == slow and len(rates) >= 6
    median = {u["group"]: u["median_hours"] for u in out["units"]}
    assert max(median, key=median.get) == slow


def test_demo_figures_equal_an_independent_count(cases, small_demo_city):
    inc = small_demo_city.incidents
    grids = small_demo_city.grids[["code", "community_code", "geometry"]]
    joined = gpd.sjoin(inc, grids, how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    done_time = joined.resolved_at.fillna(joined.closed_at)
    at = AT.tz_convert("UTC")
    joined["done"] = joined.status.isin(["resolved", "closed"]) & (
        done_time.isna() | (done_time <= at))
    joined["good"] = joined.satisfaction.isin(["satisfied", "basic"])
    joined["rated"] = joined.satisfaction.notna()
    ref = joined.dropna(subset=["community_code"]).groupby("community_code").agg(
        received=("done", "size"), done=("done", "sum"), good=("good", "sum"),
        rated=("rated", "sum"))
    got = {u["code"]: u for u in summary(cases, "community", _window())["units"]}
    for code, r in ref.iterrows():
        assert got[code]["received"] == r.received
        assert got[code]["closure_rate"] == pytest.approx(r.done / r.received, abs=1e-9)
        assert got[code]["satisfaction_rate"] == pytest.approx(r.good / r.rated, abs=1e-9)


def test_troubled_community_has_the_lowest_index(engine, cases, small_demo_truth):
    truth = small_demo_truth["case_flow"]
    out = compute_index(cases, UnitContext(providers(CoverageSettings(), ResponseSettings(),
                                                     ServiceAreaSettings())), engine, "community",
                        Period.parse(MONTH, "Asia/Shanghai"), settings=IndexSettings())
    props = {f["properties"]["code"]: f["properties"] for f in out["features"]}
    worst = min(props, key=lambda c: props[c]["index"])
    assert worst == truth["troubled_community"]["code"]
    assert props[worst]["level"] in ("orange", "red")
    calm = props[truth["calm_community"]["code"]]
    assert calm["level"] in ("none", "blue")
    assert props[worst]["rank"] == len(props)
    assert all(0 <= p["index"] <= 100 for p in props.values())
    assert out["method"].startswith("raw components") and "left_out" in out
    for p in props.values():
        comps = p["components"]
        used = {k: v for k, v in comps.items() if v["weight"] > 0}
        assert p["index"] == pytest.approx(
            sum(v["weight"] * v["score"] for v in used.values()), abs=0.02)
    assert np.isclose(sum(out["weights"].values()), 1.0)


def test_response_component_is_the_households_reached_in_five_minutes(engine, cases):
    """The index's response component is the 5-minute household share of the response
    summary (whose reach tests/test_response_demo.py checks against a networkx oracle)."""
    from geo.response.context import reach_context
    from geo.response.summary import response_summary

    out = compute_index(cases, UnitContext(providers(CoverageSettings(), ResponseSettings(),
                                                     ServiceAreaSettings())), engine, "community",
                        Period.parse(MONTH, "Asia/Shanghai"), settings=IndexSettings())
    assert "response" not in out["left_out"], out["left_out"]
    with engine.connect() as conn:
        ref = response_summary(reach_context(engine, "drive", settings=ResponseSettings(),
                                             area=ServiceAreaSettings()), conn, "community", (5.0,))
    share = {u["code"]: u["reached"]["5"]["household_share"] for u in ref["units"]}
    assert any(v is not None and v < 1 for v in share.values()), "a community is unreached"
    for f in out["features"]:
        p = f["properties"]
        comp = p["components"]["response"]
        assert comp["weight"] > 0
        if share.get(p["code"]) is not None:
            assert comp["value"] == pytest.approx(share[p["code"]], abs=1e-9)


def test_response_component_over_http_reads_the_warm_response_cache(small_demo_copy):
    """In the app, the response component is computed from the app's response cache (the
    one the response warmer fills) and equals the 5-minute share computed afresh."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings
    from api.state import AppState
    from geo.response.context import reach_context
    from geo.response.summary import response_summary

    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=small_demo_copy))
    with TestClient(app) as c:
        provider = app.state.onemap.cases.units.providers["response"]
        assert provider.keywords["cache"] is app.state.onemap.response_cache
        r = c.get("/api/v1/safety-index", params={"level": "community", "period": MONTH,
                                                  "weights": "response:0.2"})
        assert r.status_code == 200, r.text
        got = {f["properties"]["code"]: f["properties"]["components"]["response"]["value"]
               for f in r.json()["features"]}
    from geo.db.engine import make_engine

    eng = make_engine(small_demo_copy)
    try:
        with eng.connect() as conn:
            ctx = reach_context(eng, "drive", settings=ResponseSettings(),
                                area=ServiceAreaSettings())
            ref = response_summary(ctx, conn, "community", (5.0,))
    finally:
        eng.dispose()
    want = {u["code"]: u["reached"]["5"]["household_share"] for u in ref["units"]}
    assert any(v is not None for v in got.values())
    for code, value in got.items():
        if want.get(code) is not None:
            assert value == pytest.approx(want[code], abs=1e-9)


def test_index_for_past_periods_and_weeks(engine, cases):
    ctx = UnitContext(providers(CoverageSettings(), ResponseSettings(), ServiceAreaSettings()))
    for key in ("2026-05", "2026-W30", "2026-W45"):
        out = compute_index(cases, ctx, engine, "grid", Period.parse(key, "Asia/Shanghai"),
                            settings=IndexSettings())
        assert out["features"] and out["period"] == key
        assert all(f["properties"]["change"] is not None for f in out["features"])


def test_index_over_http_cli_and_ogc(small_demo_copy, small_demo_truth, monkeypatch):
    import json
    import subprocess
    import sys

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings
    from api.state import AppState

    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=small_demo_copy))
    with TestClient(app) as c:
        r = c.get("/api/v1/safety-index", params={"level": "community", "period": MONTH})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["type"] == "FeatureCollection" and body["period"] == MONTH
        assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon")
                   for f in body["features"])
        for params in ({"level": "province"}, {"period": "2026-13"}, {"period": "W44"},
                       {"weights": "incidents=1"}, {"weights": "luck:1"},
                       {"period": "2001-01"}):
            bad = c.get("/api/v1/safety-index", params=params)
            assert bad.status_code in (400, 422) and "code" in bad.json(), (params, bad.text)
        city = c.get("/api/v1/safety-index", params={"level": "city", "period": MONTH}).json()
        assert city["features"][0]["properties"]["code"] == "city"
        items = c.get("/ogc/collections/safety_index/items",
                      params={"period": MONTH, "limit": 100}).json()
        stored = {f["properties"]["code"]: f["properties"]["index"] for f in items["features"]}
        assert stored == {f["properties"]["code"]: f["properties"]["index"]
                          for f in body["features"]}
    env = {**__import__("os").environ, "ONEMAP_DATABASE_URL": small_demo_copy.database_url}
    done = subprocess.run([sys.executable, "-m", "api.cli", "index", "--level", "grid",
                           "--period", "2026-W44", "--json"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["period"] == "2026-W44"
    bad = subprocess.run([sys.executable, "-m", "api.cli", "index", "--period", "2026-13"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "unknown period" in bad.stderr

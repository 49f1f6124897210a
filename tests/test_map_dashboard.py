"""The screen's figures over HTTP on the small demo, each against a count made apart from
the product (pandas and shapely over the raw tables): statistics by area, trends with
环比/同比, search and records, and their answers to bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo.db.engine import make_engine
from geo.settings import DatabaseSettings

T1 = datetime(2026, 11, 16, tzinfo=UTC)
T0 = T1 - timedelta(days=90)
WINDOW = {"from": T0.isoformat(), "to": T1.isoformat()}


@pytest.fixture(scope="module")
def demo_engine(small_demo: DatabaseSettings) -> Iterator[Engine]:
    engine = make_engine(small_demo)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def client(small_demo: DatabaseSettings) -> Iterator[TestClient]:
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=small_demo))
    with TestClient(app) as c:
        yield c


def _frame(engine: Engine, sql: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(text(sql), params).mappings().all())


def test_statistics_by_community_equal_a_count_by_hand(client: TestClient,
                                                       demo_engine: Engine) -> None:
    grids = _frame(demo_engine, """
        SELECT g.id, g.code, g.community_code, g.households, ST_AsBinary(g.geom) AS wkb
        FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'active'""")
    inc = _frame(demo_engine, "SELECT grid_id, occurred_at FROM incidents")
    cams = _frame(demo_engine, "SELECT status, ST_X(geom) AS x, ST_Y(geom) AS y FROM cameras")
    names = _frame(demo_engine, "SELECT code, name FROM admin_areas WHERE level = 'community'")
    # Incidents per grid in the window, through the grid each incident was assigned to.
    inside = inc[(inc["occurred_at"] >= T0) & (inc["occurred_at"] < T1)]
    per_grid = inside.groupby("grid_id").size()
    grids["incidents"] = grids["id"].map(per_grid).fillna(0).astype(int)
    # Cameras per grid by shapely's point-in-polygon (not PostGIS).
    polys = shapely.from_wkb(grids["wkb"].to_numpy())
    pts = shapely.points(cams["x"].to_numpy(), cams["y"].to_numpy())
    pi, gi = shapely.STRtree(polys).query(pts, predicate="intersects")
    online = (cams["status"].to_numpy() == "online")
    grids["cameras"] = np.bincount(gi, minlength=len(grids))
    grids["online"] = np.bincount(gi[online[pi]], minlength=len(grids))
    grids["in_band"] = grids["households"].between(255, 345)
    want = grids.groupby("community_code").agg(
        incidents=("incidents", "sum"), households=("households", "sum"),
        cameras=("cameras", "sum"), online=("online", "sum"), balance=("in_band", "mean"))
    r = client.get("/map/stats", params={"level": "community", **WINDOW})
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == len(body["units"]) == len(names)
    got = {u["code"]: u for u in body["units"]}
    assert {c: got[c]["name"] for c in got} == dict(zip(names["code"], names["name"],
                                                        strict=True))
    for code, w in want.iterrows():
        u = got[code]
        assert (u["incidents"], u["households"], u["cameras"], u["cameras_online"]) == (
            w["incidents"], w["households"], w["cameras"], w["online"]), code
        assert u["balance"] == pytest.approx(w["balance"], abs=1e-4)
        if w["households"]:
            assert u["per_1000"] == pytest.approx(1000 * w["incidents"] / w["households"],
                                                  abs=0.01)
    assert sum(u["incidents"] for u in body["units"]) == len(inside.dropna(subset=["grid_id"]))


def test_streets_add_up_their_communities(client: TestClient) -> None:
    com = client.get("/map/stats", params={"level": "community", **WINDOW}).json()["units"]
    st = client.get("/map/stats", params={"level": "street", **WINDOW}).json()["units"]
    assert sum(u["incidents"] for u in st) == sum(u["incidents"] for u in com)
    assert sum(u["households"] for u in st) == sum(u["households"] for u in com)
    grid = client.get("/map/stats", params={"level": "grid", **WINDOW,
                                            "category": "dispute"}).json()
    assert grid["count"] > 0 and all("worker" in u for u in grid["units"])


@pytest.mark.parametrize("step", ["day", "week"])
def test_trends_equal_pandas_buckets_in_local_time(client: TestClient, demo_engine: Engine,
                                                   step: str) -> None:
    inc = _frame(demo_engine, "SELECT occurred_at, category FROM incidents")
    local = inc["occurred_at"].dt.tz_convert("Asia/Shanghai")
    start = local.dt.floor("D") if step == "day" else (
        local.dt.floor("D") - pd.to_timedelta(local.dt.dayofweek, unit="D"))
    inc["bucket"] = start.dt.strftime("%Y-%m-%d")
    win = inc[(inc["occurred_at"] >= T0) & (inc["occurred_at"] < T1)]
    want = win.groupby(["category", "bucket"]).size()
    r = client.get("/map/trends", params={**WINDOW, "step": step, "by": "category"})
    assert r.status_code == 200
    body = r.json()
    assert body["buckets"] == sorted(win["bucket"].unique())
    for cat, series in body["series"].items():
        for b, n in zip(body["buckets"], series, strict=True):
            assert n == want.get((cat, b), 0), (cat, b)
    assert body["total"] == len(win)
    before = inc[(inc["occurred_at"] >= T0 - (T1 - T0)) & (inc["occurred_at"] < T0)]
    assert body["previous"]["total"] == len(before)
    assert body["previous"]["change"] == pytest.approx((len(win) - len(before)) / len(before),
                                                       abs=1e-4)
    year = inc[(inc["occurred_at"] >= T0 - timedelta(days=364))
               & (inc["occurred_at"] < T1 - timedelta(days=364))]
    assert body["year_ago"]["total"] == len(year)


def test_trends_by_source_with_a_category_filter(client: TestClient, demo_engine: Engine) -> None:
    body = client.get("/map/trends", params={**WINDOW, "by": "source",
                                             "category": "hazard"}).json()
    with demo_engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM incidents WHERE category = 'hazard' AND "
                              "occurred_at >= :a AND occurred_at < :b"),
                         {"a": T0, "b": T1}).scalar()
    assert body["total"] == n == sum(sum(s) for s in body["series"].values())
    assert set(body["series"]) <= {"12345", "110", "grid", "petition", "other"}


def test_search_finds_codes_numbers_and_names(client: TestClient, demo_engine: Engine) -> None:
    with demo_engine.connect() as conn:
        grid = conn.execute(text(
            "SELECT g.id, g.code FROM grids g JOIN grid_plans p ON p.id = g.plan_id "
            "AND p.status = 'active' ORDER BY g.code LIMIT 1")).one()
        cam = conn.execute(text("SELECT id, code FROM cameras ORDER BY id LIMIT 1")).one()
        inc = conn.execute(text("SELECT id, external_id, grid_id FROM incidents "
                                "ORDER BY id LIMIT 1")).one()
        area = conn.execute(text("SELECT name FROM admin_areas WHERE level = 'community' "
                                 "ORDER BY code LIMIT 1")).scalar()
    for q, kind, rid in ((grid.code, "grid", grid.id), (cam.code, "camera", cam.id),
                         (inc.external_id, "incident", inc.id)):
        hits = client.get("/map/search", params={"q": q}).json()["hits"]
        assert (hits[0]["kind"], hits[0]["id"], hits[0]["code"]) == (kind, rid, q)
        x0, y0, x1, y1 = hits[0]["bbox"]
        assert x0 <= hits[0]["lon"] <= x1 and y0 <= hits[0]["lat"] <= y1
    hits = client.get("/map/search", params={"q": area[1:3]}).json()["hits"]
    assert any(h["kind"] == "admin_area" and h["name"] == area for h in hits)
    # % and _ are text, not wildcards.
    assert client.get("/map/search", params={"q": "%"}).json()["hits"] == []
    rec = client.get(f"/map/record/incident/{inc.id}").json()
    assert rec["fields"]["external_id"] == inc.external_id and "geom" not in rec["fields"]
    with demo_engine.connect() as conn:
        code = conn.execute(text("SELECT code FROM grids WHERE id = :g"),
                            {"g": inc.grid_id}).scalar()
    assert rec["grid"] == code


@pytest.mark.parametrize(("path", "params", "status", "message"), [
    ("/map/stats", {"level": "city", **WINDOW}, 400, "level must be one of"),
    ("/map/stats", {"from": WINDOW["to"], "to": WINDOW["from"]}, 400, "must be before to"),
    ("/map/stats", {"category": "theft", **WINDOW}, 400, "unknown category 'theft'"),
    ("/map/trends", {"step": "hour", **WINDOW}, 400, "step must be one of"),
    ("/map/trends", {"by": "status", **WINDOW}, 400, "by must be one of"),
    ("/map/trends", {"from": "2000-01-01", "to": "2026-01-01"}, 400, "at most 800"),
    ("/map/trends", {"from": "yesterday", "to": WINDOW["to"]}, 400, "ISO 8601"),
    ("/map/search", {"q": " "}, 400, "at least one character"),
    ("/map/search", {"q": "a\x00b"}, 400, "NUL or other control characters"),
    ("/map/search", {"q": "x" * 65}, 400, "at most 64"),
    ("/map/record/ship/1", {}, 400, "kind must be one of"),
    ("/map/record/incident/999999999", {}, 404, "does not exist"),
])
def test_bad_input_is_a_4xx_that_names_the_problem(client: TestClient, path: str,
                                                   params: dict, status: int,
                                                   message: str) -> None:
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert message in body["detail"] and body["code"]

"""Response circles on the small demo: an independent networkx oracle, pgRouting, the API.

The oracle below is written apart from ``geo.response``: it nodes each road at its
crossings with the others (``intersection`` + cut, not a union), inserts every
post and building as a node of its street, and runs networkx's Dijkstra from a
super-source whose arcs carry each post's turnout and connector.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo.db.engine import make_engine
from geo.response.context import reach_context
from geo.response.settings import ResponseSettings

SPEED = {"arterial": 40.0, "secondary": 30.0, "local": 20.0}
SETTINGS = ResponseSettings(_env_file=None)


@pytest.fixture()
def demo_engine(small_demo_copy):
    eng = make_engine(small_demo_copy)
    yield eng
    eng.dispose()


def _cut(line, stops):
    """Pieces of ``line`` between the given distances along it."""
    from shapely.ops import substring
    marks = sorted({0.0, line.length, *[s for s in stops if 0 < s < line.length]})
    return [substring(line, a, b) for a, b in zip(marks[:-1], marks[1:], strict=False)
            if b - a > 1e-6]


def oracle_households(engine, mode: str, breaks_min) -> dict:
    """Households reached within each break, by an independent networkx model."""
    with engine.connect() as conn:
        roads = conn.execute(text(
            "SELECT class, oneway, speed_kmh, ST_AsBinary(ST_Transform(geom, 32650)) "
            "FROM roads")).all()
        posts = conn.execute(text(
            "SELECT turnout_s, ST_AsBinary(ST_Transform(geom, 32650)) FROM posts "
            "WHERE status = 'on_duty' AND mode = :m"), {"m": mode}).all()
        blds = conn.execute(text(
            "SELECT households, ST_AsBinary(ST_Transform(ST_PointOnSurface(geom), 32650)) "
            "FROM buildings")).all()
    lines, attrs = [], []
    for cls, way, kmh, wkb in roads:
        for part in shapely.get_parts(shapely.from_wkb(wkb)):
            lines.append(part)
            attrs.append((cls, way, kmh))
    # 1. node each road where other roads cross or touch it
    tree = shapely.STRtree(lines)
    pieces = []
    for i, line in enumerate(lines):
        stops = []
        for j in tree.query(line):
            if j == i:
                continue
            for p in shapely.get_parts(line.intersection(lines[j])):
                pts = [p] if p.geom_type == "Point" else [shapely.Point(c) for c in p.coords]
                stops += [line.project(q) for q in pts]
        for piece in _cut(line, stops):
            pieces.append((piece, attrs[i]))
    geoms = np.array([p for p, _ in pieces], dtype=object)
    # 2. stops on pieces: posts and buildings at their nearest piece
    ptree = shapely.STRtree(geoms)
    post_pts = shapely.from_wkb([r[1] for r in posts])
    b_pts = shapely.from_wkb([r[1] for r in blds])
    on = defaultdict(list)
    for kind, pts in (("post", post_pts), ("bld", b_pts)):
        idx = ptree.query_nearest(pts, all_matches=False)[1]
        for n, (pt, e) in enumerate(zip(pts, idx, strict=True)):
            on[int(e)].append((geoms[e].project(pt), (kind, n), pt.distance(geoms[e])))
    g = nx.DiGraph()

    def key(pt):
        return (round(pt[0], 1), round(pt[1], 1))

    def arc(a, b, w):
        if not g.has_edge(a, b) or g[a][b]["w"] > w:
            g.add_edge(a, b, w=w)

    conn_ms = 5 / 3.6
    for e, (piece, (cls, way, kmh)) in enumerate(pieces):
        ms = (5.0 if mode == "walk" else (kmh or SPEED[cls])) / 3.6
        seq = [(0.0, key(piece.coords[0]))]
        for at, name, dist in sorted(on.get(e, []), key=lambda r: r[0]):
            seq.append((at, ("at", name)))
            g.add_edge(("at", name), name, w=dist / conn_ms) if name[0] == "bld" else None
            if name[0] == "post":
                g.add_edge("S", ("at", name), w=posts[name[1]][0] + dist / conn_ms)
        seq.append((piece.length, key(piece.coords[-1])))
        for (a0, n0), (a1, n1) in zip(seq[:-1], seq[1:], strict=False):
            w = (a1 - a0) / ms
            if mode == "walk" or way in ("no", "yes"):
                arc(n0, n1, w)
            if mode == "walk" or way in ("no", "reverse"):
                arc(n1, n0, w)
    dist = nx.single_source_dijkstra_path_length(g, "S", weight="w")
    hh = np.array([r[0] for r in blds], dtype=float)
    t = np.array([dist.get(("bld", n), np.inf) for n in range(len(blds))])
    return {m: float(hh[t <= m * 60].sum()) for m in breaks_min}


@pytest.mark.parametrize("mode,breaks", [("drive", (1, 3, 5)), ("walk", (5, 10))])
def test_households_reached_equal_an_independent_networkx_oracle(demo_engine, mode, breaks):
    ctx = reach_context(demo_engine, mode, settings=SETTINGS)
    hh = ctx.buildings.frame["households"].to_numpy(float)
    best = ctx.building_s.min(axis=0)
    want = oracle_households(demo_engine, mode, breaks)
    for m in breaks:
        got = float(hh[best <= m * 60].sum())
        assert want[m] > 0
        assert got == pytest.approx(want[m], rel=0.01), (mode, m)


def test_pgrouting_driving_distance_equals_scipy(demo_engine):
    from geo.response.pgr import pgr_node_seconds
    ctx = reach_context(demo_engine, "drive", settings=SETTINGS)
    for p in range(len(ctx.posts)):
        with demo_engine.begin() as conn:
            pgr = pgr_node_seconds(conn, ctx.graph, p, 300.0)
        mine = ctx.node_s[p]
        nodes = np.flatnonzero(mine <= 300.0 - 1e-6)
        assert set(pgr) >= set(nodes.tolist())
        got = np.array([pgr[n] for n in nodes])
        np.testing.assert_allclose(got, mine[nodes], rtol=1e-9, atol=1e-6)


def test_planted_weakness_is_listed_first(demo_engine, small_demo_truth):
    weak = small_demo_truth["response_weakness"]
    app = create_app(AppState.build(api=ApiSettings(_env_file=None),
                                    db=_settings_of(demo_engine)))
    with TestClient(app) as client:
        r = client.get("/api/v1/response/summary",
                       params={"level": "community", "minutes": "1,3,5"})
        assert r.status_code == 200, r.text
        body = r.json()
        first = body["unreached"]["features"][0]["properties"]
        assert first["code"] == weak["code"]
        assert first["share_unreached"] == 1.0
        unit = next(u for u in body["units"] if u["code"] == weak["code"])
        assert unit["reached"]["5"]["households"] == 0
        assert sum(u["reached"]["5"]["households"] for u in body["units"]) > 0


def _settings_of(engine):
    from geo.settings import DatabaseSettings
    return DatabaseSettings(_env_file=None,
                            database_url=engine.url.render_as_string(hide_password=False))


def test_api_answers_and_refuses_bad_input(demo_engine):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None),
                                    db=_settings_of(demo_engine)))
    with TestClient(app) as client:
        for overlap in ("dissolve", "split", "overlap"):
            r = client.get("/api/v1/response/areas", params={"minutes": "1,3,5",
                                                             "overlap": overlap})
            assert r.status_code == 200, r.text
            feats = r.json()["features"]
            assert {f["properties"]["minutes"] for f in feats} == {1, 3, 5}
        dissolved = client.get("/api/v1/response/areas").json()["features"]
        hh = [f["properties"]["households"] for f in dissolved]
        assert hh == sorted(hh) and hh[0] < hh[-1]
        area = [f["properties"]["area_m2"] for f in dissolved]
        assert area == sorted(area)
        walk = client.get("/api/v1/response/areas", params={"mode": "walk"}).json()
        assert [f["properties"]["minutes"] for f in walk["features"]] == [10]
        # nearest: fastest first, routes are LineStrings
        r = client.get("/api/v1/response/nearest", params={"lon": 118.05, "lat": 36.80, "k": 3})
        assert r.status_code == 200, r.text
        feats = r.json()["features"]
        assert len(feats) == 3
        secs = [f["properties"]["seconds"] for f in feats]
        assert secs == sorted(secs)
        assert all(f["geometry"]["type"] == "LineString" for f in feats)
        r = client.post("/api/v1/response/siting", json={"k": 3, "minutes": 3})
        assert r.status_code == 200, r.text
        curve = [c["reached"] for c in r.json()["curve"]]
        assert len(curve) == 4 and curve == sorted(curve) and curve[-1] > curve[0]
        bad = [("/api/v1/response/areas", {"mode": "fly"}),
               ("/api/v1/response/areas", {"minutes": "0"}),
               ("/api/v1/response/areas", {"minutes": "61"}),
               ("/api/v1/response/areas", {"minutes": "a"}),
               ("/api/v1/response/areas", {"overlap": "stack"}),
               ("/api/v1/response/summary", {"level": "planet"}),
               ("/api/v1/response/nearest", {"lon": 119.5, "lat": 36.8}),
               ("/api/v1/response/nearest", {"lon": 118.05}),
               ("/api/v1/response/areas", {"kind": "spaceport"})]
        for path, params in bad:
            r = client.get(path, params=params)
            assert 400 <= r.status_code < 500, (path, params, r.status_code)
            assert set(r.json()) >= {"detail", "code"}
        with demo_engine.begin() as conn:
            conn.execute(text("UPDATE posts SET status = 'off_duty' WHERE mode = 'walk'"))
        r = client.get("/api/v1/response/areas", params={"mode": "walk"})
        assert r.status_code == 422 and r.json()["code"] == "infeasible"
        assert "no on-duty post" in r.json()["detail"]

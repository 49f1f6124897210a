"""Response circles on hand-built networks whose answers can be worked out by hand.

Roads are drawn in UTM zone 50N metres (the CRS the service picks near Zibo) and
loaded as lon/lat like any file.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Transformer
from shapely import LineString, Point
from shapely.geometry import shape
from sqlalchemy import text

from geo.errors import Infeasible, InvalidInput
from geo.io.load import load_frame
from geo.io.settings import IngestSettings
from geo.response.areas import response_areas
from geo.response.context import ReachContext, ResponseCache, check_minutes, reach_context
from geo.response.settings import ResponseSettings
from geo.settings import LocalTimeSettings, ServiceAreaSettings

X0, Y0 = 590_000.0, 4_073_000.0  # near 118.0°E, 36.8°N in EPSG:32650
_TO_LL = Transformer.from_crs(32650, 4326, always_xy=True)
SETTINGS = ResponseSettings(_env_file=None)
CONN = 5 / 3.6  # connector speed, m/s


def _ll(geom):
    from shapely.ops import transform
    return transform(lambda x, y: _TO_LL.transform(np.asarray(x) + X0, np.asarray(y) + Y0), geom)


def _load(engine, roads, posts, buildings) -> None:
    road_rows = [{"name": n, "class": c, "oneway": o, "geometry": _ll(LineString(xy))}
                 for n, c, o, xy in roads]
    load_frame(engine, "roads", gpd.GeoDataFrame(road_rows, crs=4326), progress=False,
               settings=IngestSettings(), area=ServiceAreaSettings())
    post_rows = [{"code": c, "name": c, "kind": "police_post", "mode": m, "turnout_s": t,
                  "status": s, "geometry": _ll(Point(xy))} for c, m, t, s, xy in posts]
    load_frame(engine, "posts", gpd.GeoDataFrame(post_rows, crs=4326), progress=False,
               settings=IngestSettings(), area=ServiceAreaSettings())
    b_rows = [{"code": c, "households": h, "population": 3 * h, "geometry": _ll(Point(xy))}
              for c, h, xy in buildings]
    load_frame(engine, "buildings", gpd.GeoDataFrame(b_rows, crs=4326), progress=False,
               settings=IngestSettings(), area=ServiceAreaSettings())


def _seconds(ctx: ReachContext, code: str) -> float:
    i = int(np.flatnonzero(ctx.buildings.frame["code"].to_numpy() == code)[0])
    return float(ctx.building_s[:, i].min())


@pytest.fixture()
def street(empty_db):
    """A 2 km arterial (40 km/h) with a post in its middle, 20 m off it, 30 s turnout."""
    _load(empty_db,
          roads=[("长街", "arterial", "no", [(-1000, 0), (1000, 0)])],
          posts=[("P1", "drive", 30.0, "on_duty", (0, 20)),
                 ("OFF", "drive", 0.0, "off_duty", (900, 5))],
          buildings=[("B400", 10, (400, -10)), ("B500", 20, (500, 1)),
                     ("B700", 40, (700, 1)), ("B900", 80, (900, 8))])
    return empty_db


def test_400_m_along_a_40_kmh_street_is_36_s_plus_connectors(street):
    ctx = reach_context(street, "drive", settings=SETTINGS, area=ServiceAreaSettings())
    expected = 30.0 + 20 / CONN + 400 / (40 / 3.6) + 10 / CONN
    assert 400 / (40 / 3.6) == pytest.approx(36.0)
    assert _seconds(ctx, "B400") == pytest.approx(expected, abs=1e-3)


def test_off_duty_post_never_counts(street):
    ctx = reach_context(street, "drive", settings=SETTINGS, area=ServiceAreaSettings())
    assert list(ctx.posts["code"]) == ["P1"]
    # B900 is 8 m from the off-duty post but 900 m from P1.
    assert _seconds(ctx, "B900") == pytest.approx(30 + 20 / CONN + 81.0 + 8 / CONN, abs=1e-3)


def test_partial_edge_counts(street):
    """At 2 minutes P1 covers 666.7 m each way of a 2 km edge whose ends it never reaches."""
    ctx = reach_context(street, "drive", settings=SETTINGS, area=ServiceAreaSettings())
    fc = response_areas(ctx, [2.0], "dissolve")
    props = fc["features"][0]["properties"]
    # time left after turnout and connector: 120 - 30 - 14.4 = 75.6 s → 840 m of street.
    # B500: 45 s + 0.72 s in; B700: 63 + 0.72 in; B900: 81 + 5.76 = 86.8 > 75.6 out.
    assert props["households"] == 10 + 20 + 40
    geom = fc["features"][0]["geometry"]
    area = shape(geom)
    inside = [_ll(Point(x, 0)) for x in (-800, 0, 800)]
    outside = [_ll(Point(x, 0)) for x in (-950, 950)]
    assert all(area.contains(p) for p in inside)
    assert not any(area.contains(p) for p in outside)
    # widened by 50 m: about (2 × 840 + 2 × 50) m × 100 m
    assert props["area_m2"] == pytest.approx(1680 * 100 + np.pi * 50 ** 2, rel=0.02)


def test_one_way_is_not_driven_against_but_is_walked(empty_db):
    _load(empty_db,
          roads=[("单行巷", "local", "yes", [(-1000, 0), (1000, 0)])],
          posts=[("CAR", "drive", 0.0, "on_duty", (0, 0)),
                 ("FOOT", "walk", 0.0, "on_duty", (0, 0))],
          buildings=[("EAST", 5, (300, 0)), ("WEST", 7, (-300, 0))])
    drive = reach_context(empty_db, "drive", settings=SETTINGS, area=ServiceAreaSettings())
    assert _seconds(drive, "EAST") == pytest.approx(300 / (20 / 3.6), abs=1e-3)
    assert np.isinf(_seconds(drive, "WEST"))
    walk = reach_context(empty_db, "walk", settings=SETTINGS, area=ServiceAreaSettings())
    assert _seconds(walk, "WEST") == pytest.approx(300 / (5 / 3.6), abs=1e-3)
    assert _seconds(walk, "EAST") == pytest.approx(300 / (5 / 3.6), abs=1e-3)


def test_reverse_one_way_is_driven_against_the_drawing(empty_db):
    _load(empty_db,
          roads=[("反向巷", "local", "reverse", [(-1000, 0), (1000, 0)])],
          posts=[("CAR", "drive", 0.0, "on_duty", (0, 0))],
          buildings=[("EAST", 5, (300, 0)), ("WEST", 7, (-300, 0))])
    drive = reach_context(empty_db, "drive", settings=SETTINGS, area=ServiceAreaSettings())
    assert np.isinf(_seconds(drive, "EAST"))
    assert _seconds(drive, "WEST") == pytest.approx(54.0, abs=1e-3)


def test_bad_input_is_refused(street):
    with pytest.raises(InvalidInput, match="unknown mode"):
        reach_context(street, "fly", settings=SETTINGS, area=ServiceAreaSettings())
    with pytest.raises(Infeasible, match="no on-duty post of mode walk"):
        reach_context(street, "walk", settings=SETTINGS, cache=ResponseCache(),
                      area=ServiceAreaSettings())
    for bad in ([0], [-1], [61], []):
        with pytest.raises(InvalidInput):
            check_minutes(bad, SETTINGS)


def test_hand_network_with_one_ways_equals_the_oracle_exactly(empty_db):
    """A 3 × 3 lattice, two one-way streets, a post in the middle of a 1.2 km edge."""
    from response_oracle import oracle_households

    roads = [("横一", "local", "yes", [(0, 0), (1200, 0)]),
             ("横二", "secondary", "no", [(0, 600), (1200, 600)]),
             ("横三", "local", "reverse", [(0, 1200), (1200, 1200)]),
             ("纵一", "arterial", "no", [(0, 0), (0, 1200)]),
             ("纵二", "local", "no", [(600, 0), (600, 1200)]),
             ("纵三", "local", "yes", [(1200, 1200), (1200, 0)])]
    rng = np.random.default_rng(3)
    xy = rng.uniform(-20, 1220, size=(60, 2))
    blds = [(f"B{i}", int(rng.integers(1, 50)), (float(x), float(y))) for i, (x, y) in
            enumerate(xy)]
    _load(empty_db, roads=roads,
          posts=[("MID", "drive", 20.0, "on_duty", (300, 10)),
                 ("WALK", "walk", 0.0, "on_duty", (900, 1190)),
                 ("OFF", "drive", 0.0, "off_duty", (1190, 1190))],
          buildings=blds)
    for mode, breaks in (("drive", (1, 2, 3, 4)), ("walk", (5, 10, 15))):
        ctx = reach_context(empty_db, mode, settings=SETTINGS, area=ServiceAreaSettings())
        hh = ctx.buildings.frame["households"].to_numpy(float)
        best = ctx.building_s.min(axis=0)
        want = oracle_households(empty_db, mode, breaks)
        got = {m: float(hh[best <= m * 60].sum()) for m in breaks}
        assert got == want, mode
        assert len(set(got.values())) > 1


def test_streets_stopping_short_are_joined_within_the_gap_setting(empty_db):
    """Lanes drawn 2 m short of the street they meet (a digitising gap, one of them one-way):
    unjoined they are islands no post reaches; joined within 3 m they equal the oracle."""
    from response_oracle import oracle_households

    roads = [("主街", "secondary", "no", [(0, 0), (1200, 0)]),
             ("东巷", "local", "no", [(300, 2), (300, 600)]),
             ("西巷", "local", "yes", [(900, 600), (900, 2.5)]),
             ("北巷", "local", "no", [(302, 600), (898, 600)])]
    rng = np.random.default_rng(5)
    xy = np.column_stack([rng.uniform(280, 920, 40), rng.uniform(20, 620, 40)])
    blds = [(f"B{i}", int(rng.integers(1, 30)), (float(x), float(y)))
            for i, (x, y) in enumerate(xy)]
    _load(empty_db, roads=roads, posts=[("P", "drive", 10.0, "on_duty", (100, 5))],
          buildings=blds)
    got = {}
    for gap in (0.0, 3.0):
        # the stored network is rebuilt by itself for the new setting
        settings = ResponseSettings(_env_file=None, join_gap_m=gap)
        ctx = reach_context(empty_db, "drive", settings=settings, area=ServiceAreaSettings(),
                            cache=ResponseCache())
        with empty_db.connect() as conn:
            assert conn.execute(text("SELECT recipe FROM response_network")).scalar() == (
                settings.network_recipe())
        hh = ctx.buildings.frame["households"].to_numpy(float)
        best = ctx.building_s.min(axis=0)
        got[gap] = {m: float(hh[best <= m * 60].sum()) for m in (1, 3, 10)}
        assert got[gap] == oracle_households(empty_db, "drive", (1, 3, 10), gap_m=gap), gap
    # unjoined, only the buildings nearest the main street are reached
    assert got[0.0][10] < 0.5 * got[3.0][10]
    assert got[3.0][10] == float(sum(h for _, h, _ in blds))


def test_posts_and_one_way_roads_round_trip_through_files(street, tmp_path):
    import geopandas as gpd

    from geo.io.export import export_layer

    for layer in ("posts", "roads"):
        out = tmp_path / f"{layer}.geojson"
        export_layer(street, layer, out, timezone=LocalTimeSettings().local_timezone)
        back = gpd.read_file(out)
        if layer == "posts":
            assert sorted(back["status"]) == ["off_duty", "on_duty"]
            assert set(back["turnout_s"]) == {0.0, 30.0}
            assert set(back["mode"]) == {"drive"}
        else:
            assert list(back["oneway"]) == ["no"]


def test_a_bad_post_row_is_refused_with_its_reason(empty_db):
    from geo.errors import InvalidRows

    rows = [{"code": "X", "kind": "police_post", "mode": "fly", "geometry": _ll(Point(0, 0))}]
    with pytest.raises(InvalidRows, match="mode"):
        load_frame(empty_db, "posts", gpd.GeoDataFrame(rows, crs=4326), progress=False,
                   settings=IngestSettings(), area=ServiceAreaSettings())


def test_nearest_gives_seconds_metres_and_the_route(street):
    from geo.response.nearest import nearest_posts

    ctx = reach_context(street, "drive", settings=SETTINGS, area=ServiceAreaSettings())
    target = _ll(Point(400, -10))
    fc = nearest_posts(ctx, target.x, target.y, k=3)
    assert len(fc["features"]) == 1  # the off-duty post is never sent
    f = fc["features"][0]
    assert f["properties"]["code"] == "P1"
    assert f["properties"]["seconds"] == pytest.approx(30 + 20 / CONN + 36 + 10 / CONN, abs=0.1)
    assert f["properties"]["metres"] == pytest.approx(20 + 400 + 10, abs=0.5)
    coords = f["geometry"]["coordinates"]
    post = _ll(Point(0, 20))
    assert coords[0] == pytest.approx([post.x, post.y], abs=1e-7)
    assert coords[-1] == pytest.approx([target.x, target.y], abs=1e-7)


def test_siting_puts_a_post_where_the_unreached_households_are(empty_db):
    from geo.response.siting import site_posts

    _load(empty_db,
          roads=[("长街", "local", "no", [(0, 0), (3000, 0)]),
                 ("横街", "local", "no", [(2500, -500), (2500, 500)])],
          posts=[("WEST", "drive", 0.0, "on_duty", (0, 0))],
          buildings=[("NEAR", 5, (100, 5)), ("FAR1", 100, (2450, 5)),
                     ("FAR2", 100, (2500, 300)), ("FAR3", 100, (2550, -5))])
    ctx = reach_context(empty_db, "drive", settings=SETTINGS, area=ServiceAreaSettings())
    greedy = site_posts(ctx, 1, 2.0, "households", method="greedy")
    exact = site_posts(ctx, 1, 2.0, "households", method="exact")
    for fc in (greedy, exact):
        assert [c["reached"] for c in fc["curve"]] == [5.0, 305.0]
        site = fc["features"][0]["geometry"]["coordinates"]
        crossing = _ll(Point(2500, 0))
        assert site == pytest.approx([crossing.x, crossing.y], abs=1e-6)


def test_network_follows_road_changes(street):
    """A new one-way spur is routed on the next request (the roads layer version changed)."""
    ctx = reach_context(street, "drive", settings=SETTINGS, area=ServiceAreaSettings())
    assert ctx.graph.n_nodes == 3  # two ends and the post
    load_frame(street, "buildings", gpd.GeoDataFrame(
        [{"code": "SPUR", "households": 9, "geometry": _ll(Point(200, 300))}], crs=4326),
        progress=False, settings=IngestSettings(), area=ServiceAreaSettings())
    before = _seconds(reach_context(street, "drive", settings=SETTINGS,
                                    area=ServiceAreaSettings()), "SPUR")
    load_frame(street, "roads", gpd.GeoDataFrame(
        [{"name": "支巷", "class": "local", "oneway": "yes",
          "geometry": _ll(LineString([(200, 0), (200, 300)]))}], crs=4326), progress=False,
                          settings=IngestSettings(), area=ServiceAreaSettings())
    after = reach_context(street, "drive", settings=SETTINGS, area=ServiceAreaSettings())
    assert after.graph.n_nodes == 5
    # 200 m at 40 km/h + 300 m at 20 km/h, post turnout and connector; SPUR sits on the spur.
    assert _seconds(after, "SPUR") == pytest.approx(30 + 20 / CONN + 18 + 54, abs=1e-3)
    assert _seconds(after, "SPUR") < before


def test_too_many_breaks_are_refused():
    with pytest.raises(InvalidInput, match="at most 12 breaks"):
        check_minutes(list(range(1, 15)), SETTINGS)


def test_places_join_the_pieces_a_post_splits_like_a_direct_nearest_search():
    """ModeGraph.join (network snap re-joined to the posts' pieces) = brute-force nearest piece."""
    from geo.response.graph import EdgeIndex, ModeGraph
    from geo.response.network import build_edges

    lines = [LineString([(0, 0), (1000, 0), (1000, 800)]), LineString([(500, -300), (500, 300)]),
             LineString([(0, 400), (1200, 400)])]
    edges = build_edges(lines, ["local", "arterial", "secondary"], ["no", "yes", "no"],
                        [np.nan] * 3, [1, 2, 3], SETTINGS, 32650)
    # two posts on one piece (split twice), one at a crossing, one mid-way up the bend
    posts = np.array([Point(200, 5), Point(350, -5), Point(500, 0), Point(1003, 300)])
    graph = ModeGraph(edges, "drive", posts, [0.0] * 4, 5.0)
    assert len(graph.src) == len(edges) + 3  # three cuts; the crossing post needs none
    rng = np.random.default_rng(7)
    pts = np.array([Point(x, y) for x, y in rng.uniform([-50, -350], [1250, 850], (400, 2))])
    pts = np.r_[pts, [Point(200, 30), Point(350, 0), Point(1000, 300.0)]]  # on and near cuts
    got = graph.join(EdgeIndex(edges.geoms).nearest(pts))
    for i, p in enumerate(pts):
        dist = np.array([g.distance(p) for g in graph.geoms])
        best = np.flatnonzero(dist <= dist.min() + 1e-9)
        assert got.edge[i] in best, i
        assert got.dist[i] == pytest.approx(dist.min(), abs=1e-6)
        piece = graph.geoms[got.edge[i]]
        assert got.frac[i] == pytest.approx(piece.project(p, normalized=True), abs=1e-6)


def test_the_nearest_edge_is_exact_where_a_dense_street_crowds_the_candidates():
    """Many short segments 12 m away hide a long one 10 m away from the k nearest midpoints."""
    from geo.response.graph import EdgeIndex

    dense = LineString([(x, 12.0) for x in np.arange(-20.0, 20.01, 0.5)])
    long = LineString([(-12.0, -10.0), (12.0, -10.0)])  # one 24 m segment, midpoint (0, -10)
    index = EdgeIndex(np.array([dense, long]))
    snap = index.nearest(np.array([Point(11.0, 0.0), Point(0.0, 11.0), Point(-11.0, -9.0)]))
    assert snap.edge.tolist() == [1, 0, 1]
    assert snap.dist == pytest.approx([10.0, 1.0, 1.0])
    assert snap.frac == pytest.approx([23 / 24, 0.5, 1 / 24])


def test_a_value_being_made_is_shared_not_made_twice():
    import threading
    import time

    cache = ResponseCache(size=4)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.3)
        return object()

    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.get(("k", 1), slow)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(v) for v in out}) == 1 and cache.made["k"] == 1

    def fail():
        calls.append(1)
        time.sleep(0.2)
        raise InvalidInput("no")

    errors = []

    def ask():
        try:
            cache.get(("bad",), fail)
        except InvalidInput as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 3 and len(calls) == 2 and ("bad",) not in cache
    assert cache.get(("bad",), lambda: 5) == 5  # a failure is not kept


def test_a_new_road_speed_setting_reprices_the_stored_network(street):
    """Changing ONEMAP_RESPONSE_ARTERIAL_KMH rebuilds response_edges on the next reach."""
    area = ServiceAreaSettings()
    at_40 = _seconds(reach_context(street, "drive", settings=SETTINGS, area=area), "B700")
    slower = ResponseSettings(_env_file=None, arterial_kmh=20.0)
    at_20 = _seconds(reach_context(street, "drive", settings=slower, area=area,
                                   cache=ResponseCache()), "B700")
    # 30 s turnout, 20 m connector, 700 m of road, 1 m connector: only the road part doubles
    road_40 = 700 / (40 / 3.6)
    assert at_20 - at_40 == pytest.approx(road_40, abs=0.5)
    with street.connect() as conn:
        total = conn.execute(text("SELECT sum(drive_cost) FROM response_edges")).scalar()
    assert total == pytest.approx(2000 / (20 / 3.6), rel=1e-6)

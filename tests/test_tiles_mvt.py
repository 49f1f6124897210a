"""MVT content, decoded with an independent decoder (mapbox_vector_tile):
features, ids, properties, positions, clusters, buffers, zoom rules, grids, composites."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from sqlalchemy import text
from test_tiles_support import (
    LAT0,
    LON0,
    client_for,
    decode,
    features,
    seed_cameras,
    seed_incidents,
    seed_plan_with_grids,
    tile_lonlat,
)

EXTENT = 4096


def frac_tile(lon: float, lat: float, z: int) -> tuple[float, float]:
    n = 1 << z
    fx = (lon + 180.0) / 360.0 * n
    fy = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    return fx, fy


def tiles_covering(lon0: float, lat0: float, lon1: float, lat1: float, z: int):
    x0, y1 = (int(v) for v in frac_tile(lon0, lat0, z))
    x1, y0 = (int(v) for v in frac_tile(lon1, lat1, z))
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def test_camera_tile_has_ids_properties_and_positions(empty_db, db_settings):
    pts = seed_cameras(empty_db, 60, spread=0.01)
    with empty_db.connect() as conn:
        db = {r.id: r for r in conn.execute(text(
            "SELECT id, code, name, class AS cls, status, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            "FROM cameras"))}
    z = 16
    fx, fy = frac_tile(*pts[0], z)
    x, y = int(fx), int(fy)
    with client_for(db_settings) as client:
        r = client.get(f"/tiles/cameras/{z}/{x}/{y}.pbf")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    got = {f["id"]: f for f in features(r.content, "cameras")}
    inside = {i for i, c in db.items()
              if tuple(int(v) for v in frac_tile(c.lon, c.lat, z)) == (x, y)}
    assert inside and inside <= set(got)
    for i in inside:
        f, row = got[i], db[i]
        assert f["properties"]["code"] == row.code
        assert f["properties"]["name"] == row.name
        assert f["properties"]["class"] == row.cls
        assert f["properties"]["status"] == "online"
        cx, cy = frac_tile(row.lon, row.lat, z)
        px, py = f["geometry"]["coordinates"]
        assert abs(px - (cx - x) * EXTENT) <= 1.0
        assert abs(py - (cy - y) * EXTENT) <= 1.0


@pytest.mark.parametrize("z", [11, 12, 13])
def test_cluster_counts_sum_to_raw_counts(empty_db, db_settings, z):
    seed_cameras(empty_db, 400, spread=0.1)
    seed_incidents(empty_db, 900, spread=0.1)
    with empty_db.connect() as conn:
        per_class = dict(conn.execute(text("SELECT class, count(*) FROM cameras GROUP BY 1")).all())
        per_cat = dict(conn.execute(text(
            "SELECT category, count(*) FROM incidents GROUP BY 1")).all())
    tiles = tiles_covering(LON0 - 0.001, LAT0 - 0.001, LON0 + 0.101, LAT0 + 0.101, z)
    cams, incs = Counter(), Counter()
    ids = []
    with client_for(db_settings) as client:
        for x, y in tiles:
            r = client.get(f"/tiles/cameras,incidents/{z}/{x}/{y}.pbf")
            assert r.status_code == 200
            for f in features(r.content, "cameras"):
                p = f["properties"]
                assert p["A"] + p["B"] + p["C"] == p["count"]
                assert "code" not in p
                cams.update({k: p[k] for k in ("count", "A", "B", "C")})
                ids.append(("c", f["id"]))
                px, py = f["geometry"]["coordinates"]
                assert 0 <= px <= EXTENT and 0 <= py <= EXTENT  # clusters never sit in buffers
            for f in features(r.content, "incidents"):
                p = f["properties"]
                assert sum(p[c] for c in per_cat) == p["count"]
                incs.update({k: p[k] for k in ("count", *per_cat)})
                ids.append(("i", f["id"]))
    assert cams["count"] == 400
    assert {k: cams[k] for k in per_class} == per_class
    assert incs["count"] == 900
    assert {k: incs[k] for k in per_cat} == per_cat
    assert len(ids) == len(set(ids)), "a cluster id repeats across tiles"


def test_features_straddling_a_tile_edge_appear_in_both_buffers(empty_db, db_settings):
    z = 16
    x, y = (int(v) for v in frac_tile(LON0 + 0.003, LAT0 + 0.003, z))
    left_lon, top_lat = tile_lonlat(z, x + 0.8, y + 0.5)
    right_lon, _ = tile_lonlat(z, x + 1.3, y + 0.5)
    cam_lon, cam_lat = tile_lonlat(z, x + 1 + 40 / EXTENT, y + 0.25)  # 40 units into the right tile
    with empty_db.begin() as conn:
        road = conn.execute(text(
            "INSERT INTO roads (name, class, geom) VALUES ('edge road', 'local', "
            "ST_Multi(ST_SetSRID(ST_MakeLine(ST_MakePoint(:a, :lat), "
            "ST_MakePoint(:b, :lat)), 4326)))"
            " RETURNING id"), {"a": left_lon, "b": right_lon, "lat": top_lat}).scalar_one()
        cam = conn.execute(text(
            "INSERT INTO cameras (name, geom) VALUES ('edge cam', "
            "ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"),
            {"x": cam_lon, "y": cam_lat}).scalar_one()
    with client_for(db_settings) as client:
        left = decode(client.get(f"/tiles/roads,cameras/{z}/{x}/{y}.pbf").content)
        right = decode(client.get(f"/tiles/roads,cameras/{z}/{x + 1}/{y}.pbf").content)
    (lroad,) = [f for f in left["roads"]["features"] if f["id"] == road]
    (rroad,) = [f for f in right["roads"]["features"] if f["id"] == road]
    lxs = [p[0] for p in np.array(lroad["geometry"]["coordinates"]).reshape(-1, 2)]
    rxs = [p[0] for p in np.array(rroad["geometry"]["coordinates"]).reshape(-1, 2)]
    assert max(lxs) > EXTENT and max(lxs) <= EXTENT + 256  # runs on into the left tile's buffer
    assert min(rxs) < 0 and min(rxs) >= -256  # and starts in the right tile's buffer
    (lcam,) = [f for f in left["cameras"]["features"] if f["id"] == cam]
    (rcam,) = [f for f in right["cameras"]["features"] if f["id"] == cam]
    assert lcam["geometry"]["coordinates"][0] == pytest.approx(EXTENT + 40, abs=1)
    assert rcam["geometry"]["coordinates"][0] == pytest.approx(40, abs=1)


def _circle(n: int, r: float) -> str:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    xs, ys = LON0 + 0.02 + r * np.cos(t), LAT0 + 0.02 + r * np.sin(t) * 0.8
    ring = ",".join(f"{a} {b}" for a, b in zip(xs, ys, strict=True))
    return f"MULTIPOLYGON((({ring},{xs[0]} {ys[0]})))"


def _vertices(content: bytes, layer: str) -> int:
    total = 0
    for f in features(content, layer):
        total += np.array(f["geometry"]["coordinates"], dtype=object).size
        total += sum(len(np.array(ring).reshape(-1, 2))
                     for poly in f["geometry"]["coordinates"] for ring in poly)
    return total


def test_polygons_are_simplified_below_the_simplify_zoom(empty_db, db_settings, monkeypatch):
    with empty_db.begin() as conn:
        conn.execute(text(
            "INSERT INTO admin_areas (code, name, level, geom) VALUES "
            "('D1', 'district', 'district', ST_GeomFromText(:g, 4326))"),
            {"g": _circle(4000, 0.05)})
    z = 11
    x, y = (int(v) for v in frac_tile(LON0 + 0.02, LAT0 + 0.02, z))
    url = f"/tiles/admin_areas/{z}/{x}/{y}.pbf"
    with client_for(db_settings) as client:
        simplified = client.get(url).content
    monkeypatch.setenv("ONEMAP_TILE_SIMPLIFY_UNITS", "0")
    with client_for(db_settings) as client:
        exact = client.get(url).content
    assert features(simplified, "admin_areas")[0]["properties"]["code"] == "D1"
    assert 0 < _vertices(simplified, "admin_areas") < 0.7 * _vertices(exact, "admin_areas")


def test_roads_follow_zoom_rules(empty_db, db_settings):
    with empty_db.begin() as conn:
        for cls in ("arterial", "secondary", "local"):
            conn.execute(text(
                "INSERT INTO roads (name, class, geom) VALUES (:c, :c, ST_Multi(ST_SetSRID("
                "ST_MakeLine(ST_MakePoint(:a, :y), ST_MakePoint(:b, :y)), 4326)))"),
                {"c": cls, "a": LON0, "b": LON0 + 0.01, "y": LAT0 + 0.005})
    seen = {}
    with client_for(db_settings) as client:
        for z in (10, 12, 14):
            x, y = (int(v) for v in frac_tile(LON0 + 0.005, LAT0 + 0.005, z))
            r = client.get(f"/tiles/roads/{z}/{x}/{y}.pbf")
            seen[z] = sorted(f["properties"]["class"] for f in features(r.content, "roads"))
    assert seen == {10: ["arterial"], 12: ["arterial", "secondary"],
                    14: ["arterial", "local", "secondary"]}


def test_grids_show_the_active_plan_with_households(empty_db, db_settings):
    active = seed_plan_with_grids(empty_db, "active", name="active")
    draft = seed_plan_with_grids(empty_db, "draft", name="draft")
    z = 14
    x, y = (int(v) for v in frac_tile(LON0 + 0.002, LAT0 + 0.002, z))
    with client_for(db_settings) as client:
        default = features(client.get(f"/tiles/grids/{z}/{x}/{y}.pbf").content, "grids")
        other = features(client.get(f"/tiles/grids/{z}/{x}/{y}.pbf?plan={draft}").content, "grids")
        low = client.get(f"/tiles/grids/9/{x >> 5}/{y >> 5}.pbf")
    assert default and {f["properties"]["plan_id"] for f in default} == {active}
    for f in default:
        i = int(f["properties"]["code"].split("-")[1])
        assert f["properties"]["households"] == (100 + i) + 7 * i
    assert {f["properties"]["code"][:3] for f in other} == {f"G{draft}-"[:3]}
    assert {f["properties"]["plan_id"] for f in other} == {draft}
    assert low.status_code == 200 and low.content == b""  # below the grids' minzoom


def test_composite_tile_holds_each_layer_as_alone(empty_db, db_settings):
    seed_cameras(empty_db, 40, spread=0.01)
    seed_plan_with_grids(empty_db, "active")
    z = 15
    x, y = (int(v) for v in frac_tile(LON0 + 0.004, LAT0 + 0.004, z))
    with client_for(db_settings) as client:
        both = decode(client.get(f"/tiles/grids,cameras/{z}/{x}/{y}.pbf").content)
        grids = decode(client.get(f"/tiles/grids/{z}/{x}/{y}.pbf").content)
        cams = decode(client.get(f"/tiles/cameras/{z}/{x}/{y}.pbf").content)
    assert set(both) == {"grids", "cameras"}
    assert both["grids"] == grids["grids"]
    assert both["cameras"] == cams["cameras"]


def test_incident_filters_match_sql_counts(empty_db, db_settings):
    seed_incidents(empty_db, 1200, spread=0.01)
    z = 13  # one or two clustered tiles hold everything
    tiles = tiles_covering(LON0 - 0.001, LAT0 - 0.001, LON0 + 0.011, LAT0 + 0.011, z)
    cases = [
        ("", "TRUE"),
        ("category=hazard", "category = 'hazard'"),
        ("category=hazard,dispute&source=110",
         "category IN ('hazard','dispute') AND source = '110'"),
        ("from=2024-03-01&to=2024-06-01T00:00:00%2B08:00",
         "occurred_at >= '2024-03-01 00:00+08' AND occurred_at < '2024-06-01 00:00+08'"),
        ("from=2024-12-01T00:00:00Z", "occurred_at >= '2024-12-01 00:00Z'"),
    ]
    with client_for(db_settings) as client, empty_db.connect() as conn:
        for query, where in cases:
            want = conn.execute(text(f"SELECT count(*) FROM incidents WHERE {where}")).scalar()
            got = sum(
                f["properties"]["count"] for x, y in tiles
                for f in features(client.get(f"/tiles/incidents/{z}/{x}/{y}.pbf?{query}").content,
                                  "incidents"))
            assert got == want, query
        # raw points at high zoom honour the filters too
        zx, zy = (int(v) for v in frac_tile(LON0 + 0.005, LAT0 + 0.005, 16))
        raw = features(client.get(f"/tiles/incidents/16/{zx}/{zy}.pbf?category=livelihood").content,
                       "incidents")
        assert raw and {f["properties"]["category"] for f in raw} == {"livelihood"}

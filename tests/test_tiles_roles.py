"""What the ``widget`` role sees in tiles: incidents only as H3 counts (small cells
suppressed), cameras coarsened or hidden, coverage layers hidden; private caching."""

from __future__ import annotations

from collections import Counter

import h3
import shapely
from sqlalchemy import text
from test_tiles_support import (
    LAT0,
    LON0,
    client_for,
    features,
    role_keys,
    seed_cameras,
    seed_incidents,
    tile_of,
)

from tiles.cells import cell_polygons, tile_bounds, widget_res


def test_widget_sees_incidents_only_as_h3_counts_above_the_minimum(empty_db, db_settings):
    seed_incidents(empty_db, 1500, spread=0.02)
    seed_incidents(empty_db, 3, seed=9, spread=0.0001, lon0=LON0 + 0.05, lat0=LAT0 + 0.05)
    with empty_db.begin() as conn:  # one day: a widget counts (cell, day) pairs of >= 5
        conn.execute(text("UPDATE incidents SET occurred_at = '2024-06-01 10:00+08'"))
    z = 13
    x, y = tile_of(LON0 + 0.01, LAT0 + 0.01, z)
    with empty_db.connect() as conn:
        rows = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM incidents")).all()
    res = widget_res(z)  # each incident in its own cell at res (not its res-12 cell's parent)
    per_cell = Counter(h3.str_to_int(h3.latlng_to_cell(lat, lon, res)) for lon, lat in rows)
    cells = [c for c, n in per_cell.items() if n >= 5]
    polys = cell_polygons(cells)
    box = shapely.box(*tile_bounds(z, x, y, 256 / 4096))
    want = {format(c, "x"): per_cell[c] for c, p in zip(cells, polys, strict=True)
            if p.intersects(box)}
    assert want and min(per_cell.values()) < 5  # some cells are below the minimum
    with role_keys(empty_db, "widget", "viewer") as hdr, client_for(db_settings) as client:
        url = f"/tiles/incidents/{z}/{x}/{y}.pbf"
        widget = client.get(url, headers=hdr["widget"])
        viewer = client.get(url, headers=hdr["viewer"])
        tiny = client.get(f"/tiles/incidents/{z}/{x}/{y}.pbf", headers=hdr["widget"])
        anonymous = client.get(url)
    assert widget.status_code == viewer.status_code == 200
    got = {f["properties"]["h3"]: f["properties"]["count"]
           for f in features(widget.content, "incidents")}
    assert got == want
    for f in features(widget.content, "incidents"):
        assert set(f["properties"]) == {"h3", "count"}
        assert f["geometry"]["type"] == "Polygon"
        assert f["id"] == int(f["properties"]["h3"], 16)
    assert widget.headers["cache-control"].startswith("private")
    assert widget.headers["etag"] != viewer.headers["etag"]
    assert tiny.headers["etag"] == widget.headers["etag"]
    viewer_points = features(viewer.content, "incidents")
    assert viewer_points and "count" in viewer_points[0]["properties"]  # clusters at z13
    assert anonymous.status_code == 401


def test_widget_cameras_are_coarsened_and_coverage_hidden(empty_db, db_settings):
    pts = seed_cameras(empty_db, 80, spread=0.004)
    with empty_db.begin() as conn:
        conn.execute(text(
            "INSERT INTO coverage_gaps (geom, area_m2) VALUES (ST_Multi(ST_Buffer("
            "ST_SetSRID(ST_MakePoint(:x, :y), 4326), 0.001)), 100)"),
            {"x": LON0 + 0.002, "y": LAT0 + 0.002})
    z = 16
    x, y = tile_of(LON0 + 0.002, LAT0 + 0.002, z)
    url = f"/tiles/cameras,coverage_gaps/{z}/{x}/{y}.pbf"
    with role_keys(empty_db, "widget", "viewer") as hdr, client_for(db_settings) as client:
        widget = client.get(f"/tiles/cameras/{z}/{x}/{y}.pbf", headers=hdr["widget"])
        gaps = client.get(url, headers=hdr["widget"])
        viewer = client.get(url, headers=hdr["viewer"])
        # the 16 z16 tiles around cover every camera; coarse counts add up to all of them
        total = 0
        for dx in range(-2, 3):
            for dy in range(-2, 3):
                r = client.get(f"/tiles/cameras/{z}/{x + dx}/{y + dy}.pbf", headers=hdr["widget"])
                total += sum(f["properties"]["count"] for f in features(r.content, "cameras"))
    assert widget.status_code == 200, widget.text
    cams = features(widget.content, "cameras")
    assert cams and all("code" not in f["properties"] for f in cams)
    assert gaps.status_code == 403 and "coverage_gaps" in gaps.json()["detail"]
    assert features(viewer.content, "coverage_gaps")
    assert {f["properties"]["code"] for f in features(viewer.content, "cameras")}
    assert total == len(pts)


def test_widget_camera_tiles_refused_when_hidden(empty_db, db_settings):
    seed_cameras(empty_db, 5, spread=0.004)
    z = 16
    x, y = tile_of(LON0 + 0.002, LAT0 + 0.002, z)
    with role_keys(empty_db, "widget") as hdr, \
            client_for(db_settings, widget_cameras="hide") as client:
        alone = client.get(f"/tiles/cameras/{z}/{x}/{y}.pbf", headers=hdr["widget"])
        mixed = client.get(f"/tiles/roads,cameras/{z}/{x}/{y}.pbf", headers=hdr["widget"])
    assert alone.status_code == 403 and alone.json()["code"] == "forbidden"
    assert mixed.status_code == 403 and mixed.json()["code"] == "forbidden"

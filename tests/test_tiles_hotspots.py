"""The hotspots tile layer: Gi* cells from the hotspot service, drawn as H3 polygons."""

from __future__ import annotations

import h3
import pytest
import shapely
from test_tiles_support import LAT0, LON0, client_for, features, role_keys, seed_incidents, tile_of

from geo.hotspots.service import hotspot_cells
from tiles.cells import cell_polygons, tile_bounds


def test_hotspot_tile_carries_the_gi_star_cells(empty_db, db_settings):
    seed_incidents(empty_db, 800, spread=0.03)
    seed_incidents(empty_db, 300, seed=5, spread=0.002, lon0=LON0 + 0.01, lat0=LAT0 + 0.01)
    z = 13  # → H3 res 9
    x, y = tile_of(LON0 + 0.01, LAT0 + 0.01, z)
    frame = hotspot_cells(empty_db, res=9, category=["dispute", "hazard"])
    cells = [h3.str_to_int(c) if isinstance(c, str) else int(c) for c in frame["h3"]]
    box = shapely.box(*tile_bounds(z, x, y, 256 / 4096))
    inside = {format(c, "x") for c, p in zip(cells, cell_polygons(cells), strict=True)
              if p.intersects(box)}
    want = {format(c, "x"): row for c, row in zip(cells, frame.to_dict("records"), strict=True)
            if format(c, "x") in inside}
    with role_keys(empty_db, "viewer", "widget") as hdr, client_for(db_settings) as client:
        url = f"/tiles/hotspots/{z}/{x}/{y}.pbf?category=hazard,dispute"
        r = client.get(url, headers=hdr["viewer"])
        w = client.get(url, headers=hdr["widget"])
        low = client.get(f"/tiles/hotspots/8/{x >> 5}/{y >> 5}.pbf", headers=hdr["viewer"])
    got = {f["properties"]["h3"]: f for f in features(r.content, "hotspots")}
    assert set(got) == set(want) and any(row["bin"] == 3 for row in want.values())
    for key, f in got.items():
        row = want[key]
        assert f["properties"]["count"] == row["count"]
        assert f["properties"]["gi_z"] == pytest.approx(row["gi_z"], rel=1e-12)
        assert f["properties"]["p_value"] == pytest.approx(row["p_value"], rel=1e-12)
        assert f["properties"]["bin"] == row["bin"]
        assert f["properties"]["class"] == row["class"]
    shown = {f["properties"]["h3"] for f in features(w.content, "hotspots")}
    assert shown == {k for k, row in want.items() if row["count"] >= 5}
    assert low.content == b""  # below the layer's minzoom

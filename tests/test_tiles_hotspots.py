"""The hotspots tile layer: Gi* cells from the hotspot service, drawn as H3 polygons."""

from __future__ import annotations

import h3
import pytest
import shapely
from sqlalchemy import text
from test_tiles_support import LAT0, LON0, client_for, features, role_keys, seed_incidents, tile_of

from geo.hotspots.analyses import hotspot_cells
from geo.hotspots.runtime import HotspotService
from geo.hotspots.settings import HotspotSettings
from geo.settings import ServiceAreaSettings
from tiles.cells import cell_polygons, tile_bounds


def test_hotspot_tile_carries_the_gi_star_cells(empty_db, db_settings):
    seed_incidents(empty_db, 800, spread=0.03)
    seed_incidents(empty_db, 300, seed=5, spread=0.002, lon0=LON0 + 0.01, lat0=LAT0 + 0.01)
    seed_incidents(empty_db, 60, seed=7, spread=0.001, lon0=LON0 + 0.011, lat0=LAT0 + 0.011)
    with empty_db.begin() as conn:  # one busy week in one spot: what a widget may count
        conn.execute(text("UPDATE incidents SET occurred_at = timestamptz '2024-05-07 10:00+08' "
                          "+ (id % 4) * interval '1 day' WHERE external_id LIKE 't7-%'"))
    z = 13  # → H3 res 9
    x, y = tile_of(LON0 + 0.01, LAT0 + 0.01, z)
    svc = HotspotService(empty_db, HotspotSettings(), ServiceAreaSettings())
    frame = hotspot_cells(svc, res=9, category=["dispute", "hazard"])
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
    # a widget: the cells whose (cell, ISO week) pairs of >= 5 incidents add up to >= 5,
    # with that count and the bin, no z-score (counted here apart from the tile SQL)
    shown = {f["properties"]["h3"]: f["properties"] for f in features(w.content, "hotspots")}
    assert shown and shown == _widget_view(empty_db, inside, {"dispute", "hazard"}, want)
    assert low.content == b""  # below the layer's minzoom


def _widget_view(engine, inside: set[str], categories: set[str], want: dict) -> dict:
    """Per res-9 cell: incidents in its ISO weeks (Asia/Shanghai) of at least 5."""
    from collections import Counter
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT h3, occurred_at, category FROM incidents")).all()
    per_week = Counter(
        (format(h3.str_to_int(h3.cell_to_parent(h3.int_to_str(c), 9)), "x"),
         t.astimezone(zone).isocalendar()[:2])
        for c, t, cat in rows if cat in categories)
    total = Counter()
    for (cell, _), n in per_week.items():
        if n >= 5:
            total[cell] += n
    return {cell: {"h3": cell, "count": n, "bin": want[cell]["bin"],
                   "class": want[cell]["class"]}
            for cell, n in total.items() if n >= 5 and cell in inside and cell in want}

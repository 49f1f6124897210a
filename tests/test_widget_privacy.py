"""A widget key learns nothing finer than ``geo.widget`` allows, on any zoom or route.

Cameras: the tiles a widget gets must depend on the cameras' coarse cells only. The
test places cameras inside their 300 m cells, renders every zoom 0–22 (single and
composite tiles, decoded with mapbox_vector_tile), moves every camera elsewhere in its
own cell, renders again and compares: anything that changed is a position leaking.
It also checks no drawn point sits near a real camera (clusters of one camera used
to sit 0.3–0.6 m from it at z12–13), that OGC items stay closed and that TileJSON
and OGC extents are the same for both placements.

Incidents: windows are widened to whole local days, so bisecting ``from``/``to``
(which found one incident's time to the second) sees identical tiles.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

import h3
import numpy as np
import pytest
from sqlalchemy import text
from test_tiles_support import LAT0, LON0, client_for, decode, role_keys, tile_of

from geo.h3cells import SQL_COLUMNS, SQL_PARAMS, cells_of

CELL = 300.0  # ONEMAP_TILE_WIDGET_CAMERA_CELL's default
EXTENT = 4096
ORIGIN = 20037508.342789244
R = 6378137.0


def _lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.degrees(x / R), np.degrees(2 * np.arctan(np.exp(y / R)) - np.pi / 2)


def _3857(lon: float, lat: float) -> tuple[float, float]:
    return math.radians(lon) * R, math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * R


def _placements(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coarse cells near the demo centre and two positions of a camera in each.

    Positions keep ≥ 45 m from their cell's centre and ≥ 60 m from its corners along
    each axis, so a drawn point near a camera can only be that camera's own position.
    """
    rng = np.random.default_rng(seed)
    x0, y0 = _3857(LON0, LAT0)
    cx0, cy0 = math.floor((x0 + ORIGIN) / CELL), math.floor((ORIGIN - y0) / CELL)
    cells = np.column_stack([cx0 + rng.integers(0, 12, n), cy0 - rng.integers(0, 12, n)])

    def inside() -> np.ndarray:
        f = rng.uniform(0.2, 0.35, (n, 2))
        return np.where(rng.random((n, 2)) < 0.5, f, 1 - f)

    def positions(frac: np.ndarray) -> np.ndarray:
        x = -ORIGIN + (cells[:, 0] + frac[:, 0]) * CELL
        y = ORIGIN - (cells[:, 1] + frac[:, 1]) * CELL
        return np.column_stack([x, y])

    return cells, positions(inside()), positions(inside())


def _put_cameras(engine, xy: np.ndarray) -> None:
    lon, lat = _lonlat(xy[:, 0], xy[:, 1])
    rows = [{"code": f"{37030300001320000000 + i:020d}", "name": f"cam{i}", "cls": "ABC"[i % 3],
             "lon": float(a), "lat": float(b)} for i, (a, b) in enumerate(zip(lon, lat,
                                                                                strict=True))]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cameras"))
        conn.execute(text(
            "INSERT INTO cameras (code, name, class, geom) "
            "VALUES (:code, :name, :cls, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"), rows)


def _tiles(xy_sets: list[np.ndarray]) -> list[tuple[int, int, int]]:
    out = set()
    for xy in xy_sets:
        lon, lat = _lonlat(xy[:, 0], xy[:, 1])
        for z in range(23):
            out |= {(z, *tile_of(float(a), float(b), z)) for a, b in zip(lon, lat, strict=True)}
    return sorted(out)


def _points(content: bytes, z: int, x: int, y: int) -> list[tuple[float, float, dict]]:
    """Camera features of a tile as EPSG:3857 points with their properties."""
    size = 2 * ORIGIN / (1 << z)
    out = []
    for f in decode(content).get("cameras", {}).get("features", []):
        px, py = f["geometry"]["coordinates"]
        out.append((-ORIGIN + (x + px / EXTENT) * size, ORIGIN - (y + py / EXTENT) * size,
                    f["properties"]))
    return out


def _render_all(client, hdr, tiles) -> dict[str, object]:
    seen: dict[str, object] = {}
    for z, x, y in tiles:
        for layers in ("cameras", "roads,cameras"):
            if layers != "cameras" and z not in (11, 12, 13, 14):
                continue
            r = client.get(f"/tiles/{layers}/{z}/{x}/{y}.pbf", headers=hdr)
            assert r.status_code == 200, r.text
            seen[f"{layers}/{z}/{x}/{y}"] = sorted(
                (round(a, 3), round(b, 3), sorted(p.items())) for a, b, p in _points(r.content, z,
                                                                                    x, y))
    for path in ("/tiles/cameras/tilejson.json", "/tiles/roads,cameras/tilejson.json"):
        r = client.get(path, headers=hdr)
        assert r.status_code == 200
        seen[path] = r.json()["bounds"]
    r = client.get("/ogc/collections/cameras", headers=hdr)
    seen["ogc extent"] = r.json()["extent"]
    items = client.get("/ogc/collections/cameras/items", headers=hdr)
    one = client.get("/ogc/collections/cameras/items/1", headers=hdr)
    seen["ogc items"] = (items.status_code, one.status_code)
    return seen


def test_widget_camera_tiles_depend_on_coarse_cells_only_at_every_zoom(empty_db, db_settings):
    cells, first, second = _placements(25, seed=13)
    tiles = _tiles([first, second])
    with role_keys(empty_db, "widget") as hdr:
        _put_cameras(empty_db, first)
        with client_for(db_settings) as client:
            before = _render_all(client, hdr["widget"], tiles)
            near = []
            for z, x, y in tiles:
                if z < 10:  # a tile pixel is wider than the test's 40 m below z10
                    continue
                r = client.get(f"/tiles/cameras/{z}/{x}/{y}.pbf", headers=hdr["widget"])
                for px, py, props in _points(r.content, z, x, y):
                    d = np.hypot(first[:, 0] - px, first[:, 1] - py).min()
                    if d < 40:
                        near.append((z, x, y, round(float(d), 2), props.get("count")))
        _put_cameras(empty_db, second)
        with client_for(db_settings) as client:
            after = _render_all(client, hdr["widget"], tiles)
    assert near == [], f"points within 40 m of a real camera: {near[:5]}"
    drawn = sum(len(v) for k, v in before.items() if k.startswith("cameras/"))
    assert drawn >= 23 * 1  # something is drawn at every zoom
    changed = [k for k in before if before[k] != after[k]]
    assert changed == [], f"moving cameras inside their cells changed {changed[:8]}"
    assert before["ogc items"] == (403, 403)


def test_viewer_still_sees_cameras_where_they_are(empty_db, db_settings):
    """The coarsening is the widget's only: a viewer's z16 tile has the exact cameras."""
    _, first, _ = _placements(5, seed=3)
    _put_cameras(empty_db, first)
    lon, lat = _lonlat(first[:, 0], first[:, 1])
    with role_keys(empty_db, "viewer") as hdr, client_for(db_settings) as client:
        x, y = tile_of(float(lon[0]), float(lat[0]), 16)
        r = client.get(f"/tiles/cameras/16/{x}/{y}.pbf", headers=hdr["viewer"])
    pts = _points(r.content, 16, x, y)
    assert min(np.hypot(first[0, 0] - a, first[0, 1] - b) for a, b, _ in pts) < 1.0


# -- incidents: whole-day windows ------------------------------------------------------------

CST = timezone(timedelta(hours=8))
DAY = datetime(2024, 3, 10, tzinfo=CST)


def _seed_day(engine) -> None:
    """30 incidents in one small spot: 12 the day before, 18 through one day (one per 40 min)."""
    times = [DAY - timedelta(hours=2 + i) for i in range(12)]
    times += [DAY + timedelta(minutes=40 * i + 17, seconds=i) for i in range(18)]
    rng = np.random.default_rng(5)
    rows = []
    for i, t in enumerate(times):
        lon, lat = LON0 + 0.0003 * rng.random(), LAT0 + 0.0003 * rng.random()
        rows.append((f"w{i}", t, lon, lat))
    _insert(engine, rows)


def _insert(engine, rows) -> None:
    """Dispute incidents from 12345 at (external id, time, lon, lat), exact cells filled."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO incidents (external_id, source, category, occurred_at, h3, "
            f"{SQL_COLUMNS}, "
            f"geom) VALUES (:eid, '12345', 'dispute', :t, :h3, {SQL_PARAMS}, "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
        ), [{"eid": eid, "t": t, "lon": lon, "lat": lat,
             "h3": h3.str_to_int(h3.latlng_to_cell(lat, lon, 12)), **cells_of(lon, lat)}
            for eid, t, lon, lat in rows])


def _count(content: bytes) -> int:
    return sum(f["properties"]["count"]
               for f in decode(content).get("incidents", {}).get("features", []))


def test_bisecting_a_widget_time_window_finds_nothing(empty_db, db_settings):
    _seed_day(empty_db)
    z = 13
    x, y = tile_of(LON0 + 0.00015, LAT0 + 0.00015, z)
    url = f"/tiles/incidents/{z}/{x}/{y}.pbf"
    start = (DAY - timedelta(days=1)).isoformat()
    with role_keys(empty_db, "widget", "viewer") as hdr, \
            client_for(db_settings, widget_time_days=1) as client:
        def tile(role: str, **window):
            r = client.get(url, params=window, headers=hdr[role])
            assert r.status_code == 200, r.text
            return r

        # the attack: move "to" through the day a minute at a time around an incident
        cut = DAY + timedelta(minutes=40 * 7 + 17, seconds=7)  # the 8th incident of the day
        early = tile("widget", **{"from": start, "to": (cut - timedelta(seconds=30)).isoformat()})
        late = tile("widget", **{"from": start, "to": (cut + timedelta(seconds=30)).isoformat()})
        # the same with "from", and with two windows inside one day
        f1 = tile("widget", **{"from": (cut - timedelta(seconds=30)).isoformat()})
        f2 = tile("widget", **{"from": (cut + timedelta(seconds=30)).isoformat()})
        morning = tile("widget", **{"from": DAY.isoformat(),
                                    "to": (DAY + timedelta(hours=3)).isoformat()})
        evening = tile("widget", **{"from": (DAY + timedelta(hours=9)).isoformat(),
                                    "to": (DAY + timedelta(hours=12)).isoformat()})
        whole = tile("widget", **{"from": "2024-03-10", "to": "2024-03-10"})
        viewer = tile("viewer", **{"from": start, "to": (cut - timedelta(seconds=30)).isoformat()})
        viewer_late = tile("viewer", **{"from": start,
                                        "to": (cut + timedelta(seconds=30)).isoformat()})
        page = client.get("/map/embed", params={"layers": "incidents"}, headers=hdr["widget"])
    assert early.content == late.content and early.headers["etag"] == late.headers["etag"]
    assert f1.content == f2.content
    assert morning.content == evening.content == whole.content
    assert _count(whole.content) == 18  # the whole local day, nothing more, nothing less
    assert _count(early.content) == 30
    # a full reader still gets the window it asked for (the day's first 7 vs 8 incidents)
    assert _count(viewer.content) == 12 + 7 and _count(viewer_late.content) == 12 + 8
    # the page a widget embeds gives the newest incident's day, not its time
    anchor = re.search(r'"anchor": "([^"]+)"', page.text).group(1)
    assert datetime.fromisoformat(anchor).astimezone(CST).time() == datetime.min.time()


@pytest.mark.parametrize("days", [1, 7])
def test_widget_window_rule(days: int) -> None:
    from geo.widget import WidgetRules

    rules = WidgetRules(time_days=days, timezone="Asia/Shanghai")
    t = datetime(2024, 3, 10, 6, 30, 17, tzinfo=UTC)
    a, b = rules.window(t, t + timedelta(seconds=1))
    assert (b - a) == timedelta(days=days)
    assert a.astimezone(CST).time() == datetime.min.time()
    assert rules.window(a, b) == (a, b)  # whole blocks stay as they are


def test_widget_counts_only_days_at_the_floor(empty_db, db_settings):
    """3 incidents on each of two days in one spot: 6 in all, but no day reaches 5.

    Shown, the 6 would let a widget difference two whole-day windows down to 3
    incidents; so a cell counts only its days that hold the minimum on their own.
    """
    rows = []
    for i in range(6):
        t = DAY + timedelta(days=1 + i // 3, hours=3 + i)  # Monday 11 and Tuesday 12 March
        lon, lat = LON0 + 0.00001 * i, LAT0
        rows.append((f"f{i}", t, lon, lat))
    _insert(empty_db, rows)
    z = 13
    x, y = tile_of(LON0, LAT0, z)
    url = f"/tiles/incidents/{z}/{x}/{y}.pbf"
    with role_keys(empty_db, "widget", "viewer") as hdr:
        with client_for(db_settings, widget_time_days=1) as client:
            daily = client.get(url, headers=hdr["widget"])
            first_day = client.get(url, params={"to": "2024-03-11"},
                                   headers=hdr["widget"])
            viewer = client.get(url, headers=hdr["viewer"])
        with client_for(db_settings) as client:  # the default: ISO weeks
            weekly = client.get(url, headers=hdr["widget"])
            this_week = client.get(url, params={"from": "2024-03-12T23:59:59+08:00"},
                                   headers=hdr["widget"])
    assert _count(daily.content) == 0 and _count(first_day.content) == 0
    assert _count(viewer.content) == 6  # a reader sees them all
    # with 7-day blocks (ISO weeks, from a Monday) both days fall in one block
    assert _count(weekly.content) == 6
    assert this_week.content == weekly.content  # a window starting Tuesday night: whole week

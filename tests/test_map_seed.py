"""A small hand-made town for the map tests (until / besides the demo generator):
a district, streets, communities, an active plan and a draft, buildings, roads, a
river, places, cameras with views, coverage gaps and four months of incidents.

Also checks that the seed itself is what the map tests assume.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import h3
import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, box
from sqlalchemy import Engine, text

from geo.h3cells import SQL_COLUMNS, SQL_PARAMS, cells_of

X0, Y0, X1, Y1 = 118.02, 36.78, 118.08, 36.82
NEWEST = datetime(2026, 11, 16, 18, 0, tzinfo=UTC)
# Households per building in each of the 8 grids: under, ok and over the 255–345 band.
GRID_HOUSEHOLDS = [(40, 50, 60, 30), (80, 70, 60, 90), (120, 110, 90, 80), (20, 30, 40, 50),
                   (75, 75, 75, 75), (100, 100, 100, 100), (60, 60, 60, 60), (90, 80, 70, 60)]


def _wkt(g) -> str:
    return shapely.to_wkt(g, rounding_precision=7)


def _insert(conn, sql: str, rows: list[dict]) -> None:
    if rows:
        conn.execute(text(sql), rows)


def _admin(conn) -> list[Polygon]:
    xm, ym = (X0 + X1) / 2, (Y0 + Y1) / 2
    district = _wkt(box(X0, Y0, X1, Y1))
    rows = [dict(code="370303", name="张店区", level="district", parent=None, g=district)]
    streets = [box(X0, Y0, xm, Y1), box(xm, Y0, X1, Y1)]
    for i, s in enumerate(streets):
        rows.append(dict(code=f"3703030{i + 1}", name=["车站街道", "和平街道"][i], level="street",
                         parent="370303", g=_wkt(s)))
    comms = [box(X0, ym, xm, Y1), box(X0, Y0, xm, ym), box(xm, ym, X1, Y1), box(xm, Y0, X1, ym)]
    names = ["华光社区", "东风社区", "铁山社区", "新村社区"]
    for i, c in enumerate(comms):
        rows.append(dict(code=f"3703030{i // 2 + 1}00{i + 1}", name=names[i], level="community",
                         parent=f"3703030{i // 2 + 1}", g=_wkt(c)))
    _insert(conn, """
        INSERT INTO admin_areas (code, name, level, parent_code, geom)
        VALUES (:code, :name, :level, :parent, ST_Multi(ST_GeomFromText(:g, 4326)))""", rows)
    return comms


def _grids(conn, comms: list[Polygon]) -> list[tuple[str, Polygon]]:
    conn.execute(text("""
        INSERT INTO grid_plans (id, name, status, version, published_at)
        VALUES (1, '现行网格', 'active', 1, now()), (2, '调整草案', 'draft', 1, NULL)"""))
    conn.execute(text("SELECT setval('grid_plans_id_seq', 2)"))
    grids = []
    for i, c in enumerate(comms):
        x0, y0, x1, y1 = c.bounds
        xm = (x0 + x1) / 2
        for j, g in enumerate((box(x0, y0, xm, y1), box(xm, y0, x1, y1))):
            grids.append((f"G{i + 1}{j + 1:02d}", g, f"3703030{i // 2 + 1}00{i + 1}"))
    for plan in (1, 2):
        _insert(conn, """
            INSERT INTO grids (plan_id, code, name, community_code, worker, geom)
            VALUES (:plan, :code, :name, :comm, :worker, ST_Multi(ST_GeomFromText(:g, 4326)))""",
                [dict(plan=plan, code=code, name=f"第{k + 1}网格", comm=comm,
                      worker=f"网格员{k + 1}", g=_wkt(g))
                 for k, (code, g, comm) in enumerate(grids)])
    return [(code, g) for code, g, _ in grids]


def _buildings(conn, grids: list[tuple[str, Polygon]]) -> None:
    rows, k = [], 0
    for gi, (code, g) in enumerate(grids):
        x0, y0, x1, y1 = g.bounds
        for bi, hh in enumerate(GRID_HOUSEHOLDS[gi]):
            cx = x0 + (x1 - x0) * (0.25 + 0.5 * (bi % 2))
            cy = y0 + (y1 - y0) * (0.3 + 0.4 * (bi // 2))
            k += 1
            rows.append(dict(code=f"B{k:04d}", hh=hh, grid=code, kind="residential",
                             g=_wkt(box(cx - 0.0009, cy - 0.0004, cx + 0.0009, cy + 0.0004))))
    _insert(conn, """INSERT INTO buildings (code, households, population, floors, kind, geom)
                     VALUES (:code, :hh, :hh * 3, 6, :kind, ST_GeomFromText(:g, 4326))""", rows)
    conn.execute(text("""
        INSERT INTO grid_members (plan_id, building_id, grid_id)
        SELECT g.plan_id, b.id, g.id
        FROM buildings b JOIN grids g ON ST_Contains(g.geom, b.geom)"""))
    # The per-grid cache the grid-planning code keeps (revision 0002).
    conn.execute(text("""
        UPDATE grids g SET households = s.hh, population = s.pop, buildings = s.n
          FROM (SELECT m.grid_id, sum(b.households)::int AS hh,
                       coalesce(sum(b.population), 0)::int AS pop, count(*)::int AS n
                  FROM grid_members m JOIN buildings b ON b.id = m.building_id
                 GROUP BY m.grid_id) s
         WHERE s.grid_id = g.id"""))


def _lines(conn) -> None:
    xm, ym = (X0 + X1) / 2, (Y0 + Y1) / 2
    roads = [("人民路", "arterial", LineString([(X0, ym), (X1, ym)])),
             ("柳泉路", "arterial", LineString([(xm, Y0), (xm, Y1)])),
             ("共青团路", "secondary", LineString([(X0, Y0 + 0.01), (X1, Y0 + 0.011)])),
             ("华光路", "local", LineString([(X0 + 0.015, Y0), (X0 + 0.016, Y1)]))]
    _insert(conn, """INSERT INTO roads (name, class, geom)
                     VALUES (:n, :c, ST_Multi(ST_GeomFromText(:g, 4326)))""",
            [dict(n=n, c=c, g=_wkt(g)) for n, c, g in roads])
    river = LineString([(X0, Y1 - 0.004), (X0 + 0.03, Y1 - 0.006), (X1, Y1 - 0.003)]).buffer(0.0006)
    conn.execute(text("INSERT INTO waterways (name, kind, geom) VALUES ('猪龙河', 'river', "
                      "ST_GeomFromText(:g, 4326))"), dict(g=_wkt(river)))
    places = [("张店区实验中学", "school", True), ("区人民医院", "hospital", True),
              ("淄博站", "station", True), ("车站派出所", "police", True),
              ("华光菜市场", "market", False)]
    _insert(conn, """INSERT INTO places (name, kind, key, geom)
                     VALUES (:n, :k, :key, ST_SetSRID(ST_Point(:x, :y), 4326))""",
            [dict(n=n, k=k, key=key, x=X0 + 0.008 + 0.011 * i, y=Y0 + 0.006 + 0.006 * i)
             for i, (n, k, key) in enumerate(places)])


def _cameras(conn) -> None:
    rng = np.random.default_rng(7)
    rows = []
    for i in range(24):
        x, y = X0 + 0.004 + 0.052 * rng.random(), Y0 + 0.003 + 0.034 * rng.random()
        status = ["online", "online", "offline", "fault"][i % 4] if i % 3 == 0 else "online"
        rows.append(dict(code=f"3703030000132{i:07d}", name=f"摄像机{i + 1}", cls="ABBC"[i % 4],
                         status=status, az=float((i * 47) % 360), x=x, y=y))
    _insert(conn, """
        INSERT INTO cameras (code, name, class, kind, azimuth, fov, range_m, status, geom)
                     VALUES (:code, :name, :cls, 'bullet', :az, 90, 80, :status,
                             ST_SetSRID(ST_Point(:x, :y), 4326))""", rows)
    conn.execute(text("""
        INSERT INTO camera_views (camera_id, geom, area_m2)
        SELECT id, ST_Multi(ST_Buffer(geom::geography, range_m)::geometry), pi() * range_m ^ 2
        FROM cameras WHERE status = 'online'"""))
    gaps = [box(X0 + 0.03, Y0 + 0.004, X0 + 0.036, Y0 + 0.008),
            box(X0 + 0.004, Y0 + 0.03, X0 + 0.009, Y0 + 0.034)]
    _insert(conn, """INSERT INTO coverage_gaps (geom, area_m2, incidents, priority)
                     VALUES (ST_Multi(ST_GeomFromText(:g, 4326)), :a, :n, :p)""",
            [dict(g=_wkt(g), a=200000.0, n=12 - 8 * i, p=1.0 - 0.5 * i)
             for i, g in enumerate(gaps)])


def _incidents(conn) -> None:
    rng = np.random.default_rng(11)
    n = 600
    hot = rng.random(n) < 0.45
    x = np.where(hot, X0 + 0.012 + rng.normal(0, 0.0015, n), X0 + 0.004 + 0.052 * rng.random(n))
    y = np.where(hot, Y0 + 0.028 + rng.normal(0, 0.0012, n), Y0 + 0.003 + 0.034 * rng.random(n))
    age_days = rng.random(n) * 120
    cats = np.array(["dispute", "public_order", "hazard", "livelihood", "city_management", "other"])
    srcs = np.array(["12345", "110", "grid", "petition", "other"])
    rows = [dict(eid=f"E{i:05d}", src=str(srcs[i % 5]), cat=str(cats[(i * 7) % 6]),
                 t=NEWEST - timedelta(days=float(age_days[i])), x=float(x[i]), y=float(y[i]),
                 h3=h3.str_to_int(h3.latlng_to_cell(float(y[i]), float(x[i]), 12)),
                 **cells_of(float(x[i]), float(y[i])))
            for i in range(n)]
    rows[0]["t"] = NEWEST
    _insert(conn, f"""
        INSERT INTO incidents (external_id, source, category, occurred_at, h3,
                               {SQL_COLUMNS}, geom)
        VALUES (:eid, :src, :cat, :t, :h3, {SQL_PARAMS},
                ST_SetSRID(ST_Point(:x, :y), 4326))""", rows)


def seed_town(engine: Engine) -> None:
    """Fill an emptied database with the small town."""
    with engine.begin() as conn:
        comms = _admin(conn)
        grids = _grids(conn, comms)
        _buildings(conn, grids)
        _lines(conn)
        _cameras(conn)
        _incidents(conn)


def test_seed_town_is_what_the_map_tests_assume(empty_db: Engine) -> None:
    seed_town(empty_db)
    with empty_db.connect() as conn:
        hh = dict(conn.execute(text("""
            SELECT g.code, sum(b.households) FROM grids g JOIN grid_members m ON m.grid_id = g.id
            JOIN buildings b ON b.id = m.building_id WHERE g.plan_id = 2 GROUP BY g.code""")).all())
        newest = conn.execute(text("SELECT max(occurred_at) FROM incidents")).scalar_one()
    assert hh == {"G101": 180, "G102": 300, "G201": 400, "G202": 140,
                  "G301": 300, "G302": 400, "G401": 240, "G402": 300}
    assert newest == NEWEST
    with empty_db.connect() as conn:
        cached = dict(conn.execute(text(
            "SELECT code, households FROM grids WHERE plan_id = 1")).all())
    assert cached == hh

"""What the widget role's privacy rules cost (issue 13, points 10 and 14).

On a scratch database with 300,000 synthetic incidents over one year and 3,000 cameras
around the demo district, times the tile SQL a widget gets against the SQL it used to
get: incident H3 counts with and without the per-(cell, block of days) floor (1-day and
7-day blocks), and camera tiles coarsened at clustering zooms against plain clusters.
Also reports how many cells and incidents the floor leaves a widget. Writes the
"Widget privacy" section of bench/RESULTS.md.

Usage: ``python bench/widget.py``
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import h3
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from _results import write_section  # noqa: E402

from geo.db.engine import make_engine  # noqa: E402
from geo.db.urls import libpq_url  # noqa: E402
from tiles import cells, sql  # noqa: E402
from tiles.layers import get_layer, registry  # noqa: E402
from tiles.settings import TileSettings  # noqa: E402

N_INCIDENTS, N_CAMERAS, REPEAT = 300_000, 3_000, 7
LON0, LAT0 = 118.0, 36.76


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def _seed(engine) -> None:
    rng = np.random.default_rng(1)
    lon = LON0 + rng.random(N_INCIDENTS) * 0.1
    lat = LAT0 + rng.random(N_INCIDENTS) * 0.08
    offset = rng.integers(0, 365 * 86400, N_INCIDENTS)
    buf = io.StringIO()
    for i in range(N_INCIDENTS):
        cell = h3.str_to_int(h3.latlng_to_cell(float(lat[i]), float(lon[i]), 12))
        buf.write(f"b{i},{int(offset[i])},{cell},{lon[i]},{lat[i]}\n")
    cams = np.column_stack([LON0 + rng.random(N_CAMERAS) * 0.1,
                            LAT0 + rng.random(N_CAMERAS) * 0.08])
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET statement_timeout = 0")
        cur.execute("CREATE TEMP TABLE s (eid text, off int, h3 bigint, x float8, y float8)")
        with cur.copy("COPY s FROM STDIN WITH CSV") as cp:
            cp.write(buf.getvalue())
        cur.execute(
            "INSERT INTO incidents (external_id, source, category, occurred_at, h3, geom) "
            "SELECT eid, '12345', 'dispute', timestamptz '2024-01-01 00:00+08' "
            "+ off * interval '1 second', h3, ST_SetSRID(ST_MakePoint(x, y), 4326) FROM s")
        cur.executemany(
            "INSERT INTO cameras (code, class, geom) "
            "VALUES (%s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
            [(f"{37030300001320000000 + i:020d}", "ABC"[i % 3], float(x), float(y))
             for i, (x, y) in enumerate(cams)])
        cur.execute("ANALYZE incidents; ANALYZE cameras")
        raw.commit()
    finally:
        raw.close()


async def _time(conn, stmt: sql.Statement, values: dict) -> tuple[float, list]:
    args = stmt.args(values)
    rows = await conn.fetch(stmt.text, *args)
    t0 = time.perf_counter()
    for _ in range(REPEAT):
        rows = await conn.fetch(stmt.text, *args)
    return (time.perf_counter() - t0) / REPEAT * 1000, rows


async def _measure(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    lines = ["| tile | SQL | ms | cells shown | incidents shown |", "|---|---|---:|---:|---:|"]
    incidents = get_layer("incidents", registry(TileSettings()))
    try:
        for z in (10, 13, 15):
            x, y = _tile(LON0 + 0.05, LAT0 + 0.04, z)
            res = cells.widget_res(z)
            base = {"z": z, "x": x, "y": y, "res": res, "reach": cells.reach_m(res, LAT0),
                    "min_count": 5, "tz": "Asia/Shanghai"}
            for label, floored, days in (("before: counts, cells < 5 hidden", False, 1),
                                         ("floor, 1-day blocks", True, 1),
                                         ("floor, 7-day blocks (default)", True, 7)):
                stmt = sql.h3_count_statement(incidents, (), floored)
                ms, rows = await _time(conn, stmt, base | {"days": days})
                shown = [r["n"] for r in rows if r["n"] >= 5]
                lines.append(f"| incidents z{z} (res {res}) | {label} | {ms:.1f} | {len(shown)} "
                             f"| {sum(shown):,} |")
        cameras = get_layer("cameras", registry(TileSettings()))
        for z in (11, 12, 13):
            x, y = _tile(LON0 + 0.05, LAT0 + 0.04, z)
            size = 2 * sql.ORIGIN / (1 << z)
            k = 8
            cluster = sql.cluster_statement(cameras, "", (), False, 4096)
            ms, rows = await _time(conn, cluster, {
                "z": z, "x": x, "y": y, "cell": size / k, "reach": size / 4096,
                "id_stride": k << z, "cx0": x * k, "cx1": x * k + k - 1, "cy0": y * k,
                "cy1": y * k + k - 1})
            lines.append(f"| cameras z{z} | before: clusters at members' mean | {ms:.1f} | | |")
            group = max(1, round(size / k / 300))
            side = 300 * group
            x0, x1 = x * size / side - 0.5, (x + 1) * size / side - 0.5
            y0, y1 = y * size / side - 0.5, (y + 1) * size / side - 0.5
            coarse = sql.cluster_statement(cameras, "", (), True, 4096)
            ms, rows = await _time(conn, coarse, {
                "z": z, "x": x, "y": y, "cell": 300.0, "group": group, "reach": side,
                "id_stride": math.ceil(2 * sql.ORIGIN / side) + 1,
                "cx0": math.ceil(x0), "cx1": math.ceil(x1) - 1,
                "cy0": math.ceil(y0), "cy1": math.ceil(y1) - 1})
            lines.append(f"| cameras z{z} | widget: {group}×{group} coarse cells | {ms:.1f} | | |")
    finally:
        await conn.close()
    return lines


def main() -> int:
    """Build the scratch database, measure, write the section, drop the database."""
    from conftest import _server_settings, create_database, drop_database

    server = _server_settings()
    name = f"onemap_bench_widget_{uuid.uuid4().hex[:6]}"
    db = create_database(server, name)
    engine = make_engine(db)
    try:
        _seed(engine)
        before = os.getloadavg()
        lines = asyncio.run(_measure(libpq_url(db)))
        after = os.getloadavg()
    finally:
        engine.dispose()
        drop_database(server, name)
    body = [
        f"`python bench/widget.py`: {N_INCIDENTS:,} synthetic incidents over one year and "
        f"{N_CAMERAS:,} cameras on ≈ 9 × 9 km; the SQL of one widget tile near the centre, "
        f"mean of {REPEAT} warm runs.", "", *lines, "",
        "A widget's incident cells count only the (cell, block of `ONEMAP_WIDGET_TIME_DAYS` "
        "days) pairs with at least `ONEMAP_WIDGET_MIN_COUNT` incidents, so differencing two "
        "windows never shows fewer; where incidents are sparse per cell and day (here ≈ 2 per "
        "res-9 cell a day) 1-day blocks hide most street-level cells, which is why the default "
        "is 7-day blocks (ISO weeks).",
        "", f"Load average {before[0]:.1f} before and {after[0]:.1f} after (shared machine).",
    ]
    write_section("## Widget privacy", body)
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())

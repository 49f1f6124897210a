"""Tiles benchmark: our MVT endpoint against tipg and against the bare query.

On the ``large`` demo (``onemap_bench_large`` on the embedded cluster, or
``ONEMAP_BENCH_DATABASE_URL``; built with ``onemap demo --size large`` when it
has no buildings), for the ``buildings`` table at z12–16:

1. **uncached**: every sampled tile requested once from a fresh server — ours
   (uvicorn, one worker) and tipg (from PyPI, uvicorn, one worker, same table,
   same properties, same feature limit) — with the same client and concurrency;
   tiles/s and p50/p95 per zoom, ratio ours/tipg;
2. **bare query**: the same tiles rendered by the SQL our endpoint runs, sent
   straight to PostgreSQL with asyncpg at the same concurrency (and the textbook
   ``ST_AsMVT`` query without our simplification, for reference);
3. **cached**: a hot set of tiles requested for ``--seconds`` (gzip accepted),
   and the same with ``If-None-Match`` (304s).

The client is a minimal keep-alive HTTP/1.1 client on asyncio streams, so its
own cost stays small next to the servers'. Writes the ``## Tiles`` section of
``bench/RESULTS.md``.

Usage::

    python bench/tiles.py [--per-zoom 120] [--concurrency 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _results  # noqa: E402

sys.path.insert(0, str(ROOT))
from _databases import demo_database  # noqa: E402

from api.testing.server import Server  # noqa: E402
from geo.db.urls import libpq_url  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402
from tiles.filters import TileAddress, TileFilters  # noqa: E402
from tiles.layers import registry  # noqa: E402
from tiles.render import LayerRenderer, Policy  # noqa: E402
from tiles.settings import TileSettings  # noqa: E402

SECTION = "## Tiles"
LAYER = "buildings"
PROPS = ["code", "households", "population", "floors", "kind", "community_code"]
ZOOMS = (12, 13, 14, 15, 16)
FEATURE_LIMIT = 20_000
GZIP = {"Accept-Encoding": "gzip"}


# -- database and servers --------------------------------------------------------------------

def bench_database() -> DatabaseSettings:
    """The large demo database, created and filled when missing."""
    settings = demo_database("large", table="buildings", min_rows=10_000, who="tiles")
    with psycopg.connect(libpq_url(settings), autocommit=True) as conn:
        conn.execute("ANALYZE buildings")
    return settings


def ours(db: DatabaseSettings) -> Server:
    """Our service, with buildings from z12 and the same feature limit as tipg."""
    # No hotspot warm-up: it would read 1.9M incidents in the background while we measure.
    env = {"ONEMAP_DATABASE_URL": db.database_url, "ONEMAP_API_RATE_LIMIT_PER_MINUTE": "1000000000",
           "ONEMAP_HOTSPOT_WARM_UP": "false",
           "ONEMAP_TILE_LAYERS": json.dumps({LAYER: {"minzoom": 12}}),
           "ONEMAP_TILE_FEATURE_LIMIT": str(FEATURE_LIMIT)}
    return Server(env, keep_onemap_env=True, access_log=False)


def tipg(db: DatabaseSettings) -> Server:
    """tipg on the same table, geometry column and properties."""
    key = f"TIPG_TABLE_CONFIG__public_{LAYER}__"
    env = {"DATABASE_URL": libpq_url(db), "TIPG_DB_SCHEMAS": '["public"]',
           "TIPG_DB_TABLES": f'["public.{LAYER}"]', "TIPG_MAX_FEATURES_PER_TILE":
           str(FEATURE_LIMIT), key + "GEOMCOL": "geom", key + "PK": "id",
           key + "PROPERTIES": json.dumps(PROPS), "TIPG_DB_SPATIAL_EXTENT": "false",
           "TIPG_DB_DATETIME_EXTENT": "false"}
    return Server(env, app="tipg.main:app", keep_onemap_env=True, access_log=False)


# -- the client --------------------------------------------------------------------------------

class RawHttp:
    """Keep-alive HTTP/1.1 GETs over one connection (Content-Length or chunked bodies)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> RawHttp:
        """Connect."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def get(self, path: str, headers: dict[str, str] | None = None):
        """(status, headers, body) of one GET."""
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        hdrs = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            body = await self.reader.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding") == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
            body = b"".join(parts)
        else:
            body = b""
        return status, hdrs, body

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


@dataclass
class Run:
    """Latencies (s), sizes and statuses of one load run."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    server_cpu: float = math.nan  # CPU seconds the server used during the run

    @property
    def per_cpu_second(self) -> float:
        """Requests answered per CPU second of the server: its capacity on one free core."""
        return len(self.latencies) / self.server_cpu if self.server_cpu else math.nan

    @property
    def rate(self) -> float:
        """Requests per second."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """Latency percentile in ms."""
        return float(np.percentile(self.latencies, q) * 1000) if self.latencies else math.nan


async def load(port: int, paths: list[str], concurrency: int, headers: dict | None = None,
               seconds: float | None = None) -> Run:
    """Each path once (or cycling for ``seconds``) with ``concurrency`` connections."""
    run = Run()
    queue = list(reversed(paths))
    clients = [await RawHttp.open("127.0.0.1", port) for _ in range(concurrency)]
    t_end = None if seconds is None else time.perf_counter() + seconds

    async def worker(client: RawHttp, k: int) -> None:
        i = k
        while True:
            if t_end is None:
                if not queue:
                    return
                path = queue.pop()
            else:
                if time.perf_counter() >= t_end:
                    return
                path = paths[i % len(paths)]
                i += concurrency
            t0 = time.perf_counter()
            status, _, body = await client.get(path, headers)
            run.latencies.append(time.perf_counter() - t0)
            run.sizes.append(len(body))
            run.statuses[status] = run.statuses.get(status, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c, k) for k, c in enumerate(clients)))
    run.seconds = time.perf_counter() - t0
    for c in clients:
        c.close()
    return run


# -- tiles and the bare queries ---------------------------------------------------------------

def sample_tiles(db: DatabaseSettings, per_zoom: int, seed: int = 7) -> dict[int, list]:
    """Tiles holding buildings at each zoom (up to ``per_zoom``, seeded sample)."""
    rng = random.Random(seed)
    out = {}
    with psycopg.connect(libpq_url(db)) as conn:
        for z in ZOOMS:
            rows = conn.execute(
                """
                SELECT DISTINCT floor((ST_X(c) + 20037508.342789244) / s)::int AS x,
                                floor((20037508.342789244 - ST_Y(c)) / s)::int AS y
                FROM (SELECT ST_Centroid(geom_3857) AS c, 40075016.68557849 / (1 << %s) AS s
                      FROM buildings) AS b ORDER BY 1, 2""", (z,)).fetchall()
            tiles = [(z, x, y) for x, y in rows]
            rng.shuffle(tiles)
            out[z] = tiles[:per_zoom]
    return out


class Bare:
    """Tiles rendered by SQL sent straight to PostgreSQL (asyncpg, prepared statements):
    the SQL our endpoint runs, or the textbook query."""

    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        settings = TileSettings(_env_file=None, tile_feature_limit=FEATURE_LIMIT,
                                tile_layers={LAYER: {"minzoom": 12}})
        self.layer = registry(settings)[LAYER]
        self.renderer = LayerRenderer(settings, lambda: _pool(pool), Policy())
        self.sql = _textbook_sql()

    @classmethod
    async def open(cls, db: DatabaseSettings, concurrency: int) -> Bare:
        """Pool of ``concurrency`` connections, warmed."""
        pool = await asyncpg.create_pool(libpq_url(db), min_size=concurrency,
                                         max_size=concurrency, server_settings={"jit": "off"})
        return cls(pool)

    async def run(self, batch: list, concurrency: int, textbook: bool) -> Run:
        """Each tile once."""
        run = Run()
        queue = list(reversed(batch))

        async def worker() -> None:
            while queue:
                z, x, y = queue.pop()
                t0 = time.perf_counter()
                if textbook:
                    async with self.pool.acquire() as conn:
                        data = await conn.fetchval(self.sql, z, x, y)
                else:
                    data = await self.renderer.render(self.layer, TileAddress(z, x, y),
                                                      TileFilters(), "full")
                run.latencies.append(time.perf_counter() - t0)
                run.sizes.append(len(data or b""))
                run.statuses[200] = run.statuses.get(200, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        run.seconds = time.perf_counter() - t0
        return run


async def _pool(pool):
    return pool


def _textbook_sql() -> str:
    cols = ", ".join(PROPS)
    return f"""
SELECT ST_AsMVT(q, '{LAYER}', 4096, 'geom', 'id') FROM (
    SELECT id, {cols}, ST_AsMVTGeom(geom_3857, ST_TileEnvelope($1, $2, $3), 4096, 256, true) AS geom
    FROM {LAYER} WHERE geom_3857 && ST_TileEnvelope($1, $2, $3, margin => 0.0625)
    LIMIT {FEATURE_LIMIT}) AS q"""


# -- the phases -------------------------------------------------------------------------------

def our_path(z: int, x: int, y: int) -> str:
    """Our tile URL."""
    return f"/tiles/{LAYER}/{z}/{x}/{y}.pbf"


def tipg_path(z: int, x: int, y: int) -> str:
    """tipg's tile URL."""
    return f"/collections/public.{LAYER}/tiles/WebMercatorQuad/{z}/{x}/{y}"


async def uncached(db, tiles: dict, concurrency: int) -> dict[str, dict[int, Run]]:
    """Every tile once per zoom: ours, tipg, the bare SQL and the textbook SQL, interleaved
    zoom by zoom so that all four see the same background load. Servers start fresh."""
    a, b = ours(db), tipg(db)
    bare_pool = await Bare.open(db, concurrency)
    runs: dict[str, dict[int, Run]] = {"ours": {}, "tipg": {}, "bare": {}, "textbook": {}}
    try:
        a.wait()
        b.wait("/healthz")
        # Not measured, the same for all: open every pool connection and prepare each zoom's
        # statements with empty tiles in the Arctic (none of the sampled tiles).
        warm = [(z, i, 0) for z in ZOOMS for i in range(concurrency)]
        await load(a.port, [our_path(*t) for t in warm], concurrency, GZIP)
        await load(b.port, [tipg_path(*t) for t in warm], concurrency, GZIP)
        await bare_pool.run(warm, concurrency, textbook=False)
        await bare_pool.run(warm, concurrency, textbook=True)
        for z in ZOOMS:
            cpu = a.cpu_seconds()
            runs["ours"][z] = await load(a.port, [our_path(*t) for t in tiles[z]], concurrency,
                                         GZIP)
            runs["ours"][z].server_cpu = a.cpu_seconds() - cpu
            cpu = b.cpu_seconds()
            runs["tipg"][z] = await load(b.port, [tipg_path(*t) for t in tiles[z]], concurrency,
                                         GZIP)
            runs["tipg"][z].server_cpu = b.cpu_seconds() - cpu
            runs["bare"][z] = await bare_pool.run(tiles[z], concurrency, textbook=False)
            runs["textbook"][z] = await bare_pool.run(tiles[z], concurrency, textbook=True)
            print(f"tiles: z{z}: ours {runs['ours'][z].rate:.0f}/s, tipg "
                  f"{runs['tipg'][z].rate:.0f}/s, bare {runs['bare'][z].rate:.0f}/s", flush=True)
    finally:
        a.stop()
        b.stop()
        await bare_pool.pool.close()
    return runs


async def cached(db, tiles: list, concurrency: int, seconds: float,
                 windows: int) -> tuple[list[Run], list[Run]]:
    """Hot tiles (gzip) for ``windows`` × ``seconds``, then the same with If-None-Match."""
    server = ours(db).wait()
    try:
        paths = [our_path(*t) for t in tiles]
        client = await RawHttp.open("127.0.0.1", server.port)
        etags = {}
        for p in paths:
            _, hdrs, _ = await client.get(p, GZIP)
            etags[p] = hdrs["etag"]
        client.close()
        async def window(batch: list[str], headers: dict) -> Run:
            cpu0 = server.cpu_seconds()
            run = await load(server.port, batch, concurrency, headers, seconds=seconds)
            run.server_cpu = server.cpu_seconds() - cpu0
            return run

        hits = [await window(paths, GZIP) for _ in range(windows)]
        one = paths[0]
        revalidated = [await window([one], dict(GZIP, **{"If-None-Match": etags[one]}))
                       for _ in range(windows)]
        return hits, revalidated
    finally:
        server.stop()


def _all(runs: dict[int, Run]) -> Run:
    out = Run(seconds=sum(r.seconds for r in runs.values()),
              server_cpu=sum(r.server_cpu for r in runs.values()))
    for r in runs.values():
        out.latencies += r.latencies
        out.sizes += r.sizes
        for k, v in r.statuses.items():
            out.statuses[k] = out.statuses.get(k, 0) + v
    return out


def report(args, counts, tiles, runs, hits: list[Run], revalidated: list[Run], load_start,
           load_end) -> str:
    """The markdown section."""
    mine, theirs, bare_ours, book = (runs[k] for k in ("ours", "tipg", "bare", "textbook"))
    m_all, t_all, b_all, k_all = (_all(r) for r in (mine, theirs, bare_ours, book))
    ratio = m_all.rate / t_all.rate
    overhead = m_all.seconds / b_all.seconds
    hit_rates = sorted(r.rate for r in hits)
    rev_rates = sorted(r.rate for r in revalidated)
    best = max(hits, key=lambda r: r.rate)
    best_rev = max(revalidated, key=lambda r: r.rate)
    lines = [
        SECTION, "",
        f"`python bench/tiles.py` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores **shared with other agents** (load average "
        f"{load_start[0]:.1f} at start, {load_end[0]:.1f} at the end: every figure here is "
        f"taken on a busy machine). Large demo: {counts['buildings']:,} buildings, "
        f"{counts['incidents']:,} incidents, {counts['cameras']:,} cameras. Layer `{LAYER}`: same "
        f"table, properties ({', '.join(PROPS)}) and feature limit ({FEATURE_LIMIT:,}) for "
        f"both servers, uvicorn with one worker each, started fresh and warmed alike ("
        f"{args.concurrency} empty Arctic tiles per zoom at full concurrency, to open the "
        f"connection pools and prepare statements; not measured); one asyncio keep-alive "
        f"client, concurrency {args.concurrency}, `Accept-Encoding: gzip`; "
        f"{sum(len(v) for v in tiles.values())} tiles holding buildings (up to {args.per_zoom} "
        f"per zoom), each requested once per server; ours, tipg, the bare SQL and the "
        f"textbook SQL run zoom by zoom, interleaved.",
        "",
        "| zoom | tiles | ours tiles/s | ours p50 / p95 ms | tipg tiles/s | tipg p50 / p95 ms "
        "| ours/tipg | bare SQL tiles/s | endpoint/bare time | server CPU ms/tile ours / tipg "
        "| gzip bytes ours / tipg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for z in ZOOMS:
        a, b, c = mine[z], theirs[z], bare_ours[z]
        lines.append(
            f"| {z} | {len(a.latencies)} | {a.rate:.0f} | {a.pct(50):.1f} / {a.pct(95):.1f} | "
            f"{b.rate:.0f} | {b.pct(50):.1f} / {b.pct(95):.1f} | {a.rate / b.rate:.2f}× | "
            f"{c.rate:.0f} | {a.seconds / c.seconds:.2f}× | "
            f"{1e3 / a.per_cpu_second:.2f} / {1e3 / b.per_cpu_second:.2f} | "
            f"{np.mean(a.sizes):,.0f} / {np.mean(b.sizes):,.0f} |")
    lines += [
        f"| **12–16** | {len(m_all.latencies)} | **{m_all.rate:.0f}** | {m_all.pct(50):.1f} / "
        f"{m_all.pct(95):.1f} | **{t_all.rate:.0f}** | {t_all.pct(50):.1f} / "
        f"{t_all.pct(95):.1f} | **{ratio:.2f}×** | {b_all.rate:.0f} | **{overhead:.2f}×** | "
        f"{1e3 / m_all.per_cpu_second:.2f} / {1e3 / t_all.per_cpu_second:.2f} | |",
        "",
        f"- **Uncached, ours/tipg: {ratio:.2f}×** tiles/s over z12–16 (target ≥ 2×). "
        f"Statuses ours {m_all.statuses}, tipg {t_all.statuses}. tipg transforms every row to "
        f"3857 and filters on `geom` (4326) with `ST_Intersects`; we filter and clip "
        f"`geom_3857` (generated, GiST-indexed) with a buffered `&&` (so we also ship the "
        f"features lying in the {TileSettings(_env_file=None).tile_polygon_buffer}-unit "
        f"polygon buffer, which tipg leaves out), simplify polygons and leave out sub-pixel "
        f"ones below z15. Footprints that stay valid once snapped to the zoom's grid "
        f"(`buildings.mvt_snap_zooms`, worked out when they are written) and lie inside the "
        f"buffered tile skip `ST_AsMVTGeom`'s clip-and-repair pass; the others go through it.",
        f"- **Endpoint vs bare query: {overhead:.2f}×** (target ≤ 1.3×): {m_all.seconds:.2f} s "
        f"through HTTP for the tiles, {b_all.seconds:.2f} s for the SQL our endpoint runs sent "
        f"straight with asyncpg at the same concurrency. The textbook query (`ST_AsMVT` of "
        f"`ST_AsMVTGeom(geom_3857 …)` with the same properties, buffer 256, no simplification) "
        f"took "
        f"{k_all.seconds:.2f} s.",
        f"- **Cached:** {len(tiles[14][:args.hot])} hot z14 tiles, concurrency "
        f"{args.cache_concurrency}, {args.windows} windows of {args.seconds:.0f} s: "
        f"**{hit_rates[len(hit_rates) // 2]:,.0f} tiles/s** median, {hit_rates[-1]:,.0f} best "
        f"(target ≥ 3,000) on one worker; best window p50 {best.pct(50):.2f} ms, p95 "
        f"{best.pct(95):.2f} ms, statuses {best.statuses}. Revalidation with `If-None-Match`: "
        f"**{rev_rates[len(rev_rates) // 2]:,.0f} 304/s** median, {rev_rates[-1]:,.0f} best. "
        f"The server process used {1e6 / best.per_cpu_second:.0f} µs of CPU per cached tile "
        f"and {1e6 / best_rev.per_cpu_second:.0f} µs per 304 (its own `/proc` counters), i.e. "
        f"**{best.per_cpu_second:,.0f} tiles/s and {best_rev.per_cpu_second:,.0f} 304/s per "
        f"CPU-second of one worker**: the capacity of one worker on a free core; the "
        f"wall-clock rates above are what it got of two cores shared with the client, "
        f"PostgreSQL and other agents.",
        "- Open local mode (no API keys), access log off, hotspot warm-up off (it reads every "
        "incident in the background for seconds after start). The load client runs on the same "
        "two cores as the server and PostgreSQL.",
        "",
    ]
    return "\n".join(lines)


def write_section(body: str) -> None:
    """Replace (or append) this script's section of bench/RESULTS.md."""
    _results.write_section(SECTION, body)


async def amain(args) -> str:
    """Run every phase and return the report."""
    load_avg = os.getloadavg()
    db = bench_database()
    with psycopg.connect(libpq_url(db)) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("buildings", "incidents", "cameras")}
    tiles = sample_tiles(db, args.per_zoom)
    print(f"tiles: {sum(len(v) for v in tiles.values())} tiles, uncached …", flush=True)
    runs = await uncached(db, tiles, args.concurrency)
    print("tiles: cached …", flush=True)
    hits, revalidated = await cached(db, tiles[14][:args.hot], args.cache_concurrency,
                                     args.seconds, args.windows)
    return report(args, counts, tiles, runs, hits, revalidated, load_avg, os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its section."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-zoom", type=int, default=120)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--cache-concurrency", type=int, default=32)
    ap.add_argument("--hot", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    body = asyncio.run(amain(args))
    print(body)
    if not args.no_write:
        write_section(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

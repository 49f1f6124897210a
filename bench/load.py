"""Load test: 50 concurrent clients, 60 s of mixed traffic on the ``city`` demo.

Mix (closed loop, each client sends its next request when the last one answers):
vector tiles z12–16 (widget key), OGC features by bbox (viewer key), hotspots
(viewer key) and incident ingest batches (admin key). Counts every non-2xx/304
answer and every transport error as an error; records p50/p95/p99 per kind and
writes the ``## Load (issue 8)`` section of ``bench/RESULTS.md``.

Usage::

    python bench/load.py [--clients 50] [--seconds 60] [--workers 2] [--size city]

The bench database (``onemap_bench_<size>`` on the embedded cluster, or
``ONEMAP_BENCH_DATABASE_URL``) is created and filled with ``onemap demo`` when
it has no incidents. The server runs with keys (keys mode, as on a government
network) and a rate limit high enough not to shape the load.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _results  # noqa: E402

sys.path.insert(0, str(ROOT))
from _databases import demo_database  # noqa: E402

from api.testing.server import Server  # noqa: E402
from geo import keys  # noqa: E402
from geo.db.engine import make_engine  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402

SECTION = "## Load (issue 8)"
MIX = {"tiles": 0.50, "features": 0.20, "hotspots": 0.15, "ingest": 0.15}
FEATURE_COLLECTIONS = ("buildings", "grids", "roads", "places", "cameras")
TILE_LAYERS = ("buildings", "grids", "roads", "incidents", "hotspots", "cameras")


# -- the bench database and server -----------------------------------------------------------

def start_server(settings: DatabaseSettings, workers: int) -> Server:
    """The service with ``workers`` processes on the bench database, once it is ready."""
    server = Server({"ONEMAP_DATABASE_URL": settings.database_url, "ONEMAP_API_HOST": "127.0.0.1",
                     "ONEMAP_API_RATE_LIMIT_PER_MINUTE": "10000000"},
                    workers=workers, access_log=False)
    try:
        return server.wait(timeout_s=120)
    except RuntimeError as exc:
        raise SystemExit(f"load: {exc}") from None


# -- the traffic -----------------------------------------------------------------------------

@dataclass
class Extent:
    """The demo's extent and time span, read from the database."""

    x0: float
    y0: float
    x1: float
    y1: float
    t0: str
    t1: str

    @classmethod
    def read(cls, settings: DatabaseSettings) -> Extent:
        engine = make_engine(settings)
        with engine.connect() as conn:
            b = conn.execute(text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geom) AS e FROM admin_areas) s")).one()
            t = conn.execute(text(
                "SELECT min(occurred_at), max(occurred_at) FROM incidents")).one()
        engine.dispose()
        return cls(*map(float, b), t[0].isoformat(), t[1].isoformat())


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@dataclass
class Traffic:
    """Builds one random request of each kind."""

    ext: Extent
    run: str
    headers: dict[str, dict[str, str]]
    mix: dict[str, float] = field(default_factory=lambda: dict(MIX))
    rng: random.Random = field(default_factory=lambda: random.Random(8))
    counter: int = 0

    def point(self) -> tuple[float, float]:
        e = self.ext
        return self.rng.uniform(e.x0, e.x1), self.rng.uniform(e.y0, e.y1)

    def tiles(self) -> tuple[str, str, dict]:
        z = self.rng.randint(12, 16)
        x, y = tile_of(*self.point(), z)
        layer = self.rng.choice(TILE_LAYERS)
        return "GET", f"/tiles/{layer}/{z}/{x}/{y}.pbf", {"headers": self.headers["widget"]}

    def features(self) -> tuple[str, str, dict]:
        lon, lat = self.point()
        d = self.rng.uniform(0.002, 0.01)
        c = self.rng.choice(FEATURE_COLLECTIONS)
        bbox = f"{lon - d:.5f},{lat - d:.5f},{lon + d:.5f},{lat + d:.5f}"
        return "GET", f"/ogc/collections/{c}/items", {
            "params": {"bbox": bbox, "limit": 100}, "headers": self.headers["viewer"]}

    def hotspots(self) -> tuple[str, str, dict]:
        """A dashboard's questions: last 7/30/90 days, all or one category."""
        end = datetime.fromisoformat(self.ext.t1).date() + timedelta(days=1)
        days = self.rng.choice([7, 30, 90])
        params = {"res": 9, "from": (end - timedelta(days=days)).isoformat(),
                  "to": end.isoformat()}
        category = self.rng.choice([None, "dispute", "hazard"])
        if category:
            params["category"] = category
        return "GET", "/api/v1/hotspots", {"params": params, "headers": self.headers["viewer"]}

    def ingest(self) -> tuple[str, str, dict]:
        self.counter += 1
        feats = []
        for j in range(10):
            lon, lat = self.point()
            point = {"type": "Point", "coordinates": [lon, lat]}
            feats.append({"type": "Feature", "geometry": point,
                          "properties": {"external_id": f"{self.run}-{self.counter}-{j}",
                                         "source": "12345", "category": "livelihood",
                                         "occurred_at": self.ext.t1}})
        body = {"type": "FeatureCollection", "features": feats}
        return "POST", "/api/v1/incidents", {"json": body, "headers": self.headers["admin"]}

    def next(self) -> tuple[str, str, str, dict]:
        kind = self.rng.choices(list(self.mix), weights=list(self.mix.values()))[0]
        return (kind, *getattr(self, kind)())


async def client_loop(client: httpx.AsyncClient, traffic: Traffic, until: float,
                      lat: dict[str, list[float]], errors: dict[str, list[str]]) -> None:
    while time.monotonic() < until:
        kind, method, path, kw = traffic.next()
        t0 = time.perf_counter()
        try:
            r = await client.request(method, path, **kw)
            ok = r.status_code < 300 or r.status_code == 304
            problem = None if ok else f"{r.status_code} {path} {r.text[:160]}"
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__} {path}"
        lat[kind].append(time.perf_counter() - t0)
        if problem:
            errors[kind].append(problem)


async def run_load(base: str, traffic: Traffic, clients: int, seconds: float):
    lat = {k: [] for k in MIX}
    errors = {k: [] for k in MIX}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        until = time.monotonic() + seconds
        t0 = time.monotonic()
        await asyncio.gather(*(client_loop(client, traffic, until, lat, errors)
                               for _ in range(clients)))
        wall = time.monotonic() - t0
    return lat, errors, wall


# -- results ---------------------------------------------------------------------------------

def report(lat, errors, wall: float, clients: int, workers: int, size: str,
           mix: dict[str, float]) -> str:
    rows = []
    all_lat = np.concatenate([np.asarray(v) for v in lat.values() if v]) * 1000
    for kind, v in [*lat.items(), ("all", None)]:
        a = all_lat if v is None else np.asarray(v) * 1000
        n_err = sum(map(len, errors.values())) if v is None else len(errors[kind])
        if a.size == 0:
            continue
        p50, p95, p99 = np.percentile(a, [50, 95, 99])
        rows.append(f"| {kind} | {a.size:,} | {n_err} | {a.size / wall:,.1f} | {p50:,.1f} | "
                    f"{p95:,.1f} | {p99:,.1f} | {a.max():,.1f} |")
    total_err = sum(map(len, errors.values()))
    lines = [
        SECTION, "",
        f"`python bench/load.py`: {clients} concurrent clients for {wall:.0f} s of mixed traffic "
        f"on the `{size}` demo; uvicorn with {workers} worker(s), keys mode (widget key for tiles, "
        "viewer for features/hotspots, admin for ingest of 10-incident batches); mix "
        + ", ".join(f"{k} {v:g}" for k, v in mix.items())
        + f". Latency in ms, client side. **Errors: {total_err}.**", "",
        "| kind | requests | errors | req/s | p50 | p95 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|", *rows, "",
    ]
    for kind, errs in errors.items():
        for e in errs[:3]:
            lines.append(f"- {kind} error: `{e}`")
    return "\n".join(lines).rstrip() + "\n"


def write_section(body: str) -> None:
    """Replace (or append) this script's section of bench/RESULTS.md."""
    _results.write_section(SECTION, body)


def _mix(text_: str) -> dict[str, float]:
    mix = {}
    for part in text_.split(","):
        name, _, share = part.partition("=")
        if name not in MIX:
            raise argparse.ArgumentTypeError(f"unknown kind {name!r}; use {', '.join(MIX)}")
        mix[name] = float(share)
    return mix


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", default="city")
    ap.add_argument("--mix", type=_mix, default=dict(MIX),
                    help="shares, e.g. tiles=50,features=20,hotspots=15,ingest=15")
    ap.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = ap.parse_args(argv)

    settings = demo_database(args.size, who="load")
    engine = make_engine(settings)
    run = f"load-{uuid.uuid4().hex[:8]}"
    made = {role: keys.create_key(engine, role, f"bench {run}") for role in
            ("admin", "viewer", "widget")}
    headers = {role: {"Authorization": f"Bearer {secret}"} for role, (_, secret) in made.items()}
    server = start_server(settings, args.workers)
    base = server.url
    try:
        traffic = Traffic(Extent.read(settings), run, headers, args.mix)
        print(f"load: {args.clients} clients for {args.seconds:.0f} s against {base}", flush=True)
        lat, errors, wall = asyncio.run(run_load(base, traffic, args.clients, args.seconds))
        body = report(lat, errors, wall, args.clients, args.workers, args.size, args.mix)
        print(body, flush=True)
        if not args.no_write:
            write_section(body)
    finally:
        server.stop(timeout_s=60)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM incidents WHERE external_id LIKE :p"), {"p": f"{run}-%"})
        for key, _ in made.values():
            keys.revoke_key(engine, key.key_id)
        engine.dispose()
    return 1 if sum(map(len, errors.values())) else 0


if __name__ == "__main__":
    sys.exit(main())

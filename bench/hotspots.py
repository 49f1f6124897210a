"""Hotspots benchmark: end-to-end API time on 1M incidents at res 9 against esda's
pipeline (graph build + G_Local) on the same counts, and emerging hot spots
(52 weekly steps) on the city demo.

Targets (ARCHITECTURE.md §7): /api/v1/hotspots < 0.5 s for any filter, z equal to esda,
≥ 20× faster than esda; emerging over 12 months weekly on the city demo < 3 s.
Writes the ``## Hotspots`` section of ``bench/RESULTS.md``.

Usage::

    python bench/hotspots.py [--rows 1000000] [--keep] [--skip-city] [--no-write]

Databases ``onemap_bench_hotspots`` (synthetic incidents) and
``onemap_bench_hotspots_city`` (city demo, seed 42) are created on the embedded
cluster and dropped afterwards unless ``--keep`` (then reused when present).
The API runs in a real uvicorn process; requests go over HTTP with httpx, with
a browser's ``Accept-Encoding``, and each is timed until its body is received
and decoded. esda's side is its fastest pipeline among those measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _results  # noqa: E402

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import h3  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import orjson  # noqa: E402
import shapely  # noqa: E402
from sqlalchemy import text  # noqa: E402

from geo.db.engine import make_engine  # noqa: E402
from geo.db.urls import sqlalchemy_url, url_string  # noqa: E402
from geo.settings import DatabaseSettings, ServiceAreaSettings  # noqa: E402

SECTION = "## Hotspots"
DB_SYN, DB_CITY = "onemap_bench_hotspots", "onemap_bench_hotspots_city"
# A city-scale service area: 40 km × 40 km (≈ Zibo's central districts), ~15k res-9 cells.
HALF_SIDE_M = 20_000.0
FILTERS = [
    {"from": "2025-01-01", "to": "2025-03-31"},
    {"from": "2025-04-01", "to": "2025-06-30", "category": "dispute"},
    {"category": "hazard,public_order"},
    {"source": "12345"},
    {"source": "110,grid", "from": "2025-07-01", "to": "2025-12-31"},
    {"k": 2},
    {"k": 3, "category": "livelihood"},
    {"from": "2025-02-01", "to": "2025-02-28"},
    {"bbox": "117.90,36.70,118.10,36.85"},
    {"bbox": "118.00,36.75,118.20,36.95", "category": "city_management"},
    {"from": "2025-05-01", "to": "2025-10-31", "source": "petition"},
    {"alpha": 0.01, "category": "other"},
]


# What Chrome (≥ 123) and Firefox (≥ 126) send over HTTPS; over plain HTTP they
# send "gzip, deflate" (GZIP_ONLY), as Safari does "gzip, deflate, br".
BROWSER = "gzip, deflate, br, zstd"
GZIP_ONLY = "gzip, deflate"
# A second server is asked its first question this long after it started.
WARM_WAIT_S = 20.0


def write_results(lines: list[str]) -> None:
    """Replace (or append) this script's section of bench/RESULTS.md."""
    _results.write_section(SECTION, lines)


def database(server, name: str, keep: bool, fill) -> DatabaseSettings:
    """A migrated database, filled by ``fill(engine)`` unless kept from an earlier run."""
    from conftest import create_database

    settings = DatabaseSettings(database_url=url_string(sqlalchemy_url(server, name)))
    if keep:
        try:
            eng = make_engine(settings)
            with eng.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM incidents")).scalar():
                    eng.dispose()
                    print(f"reusing {name}", flush=True)
                    return settings
        except Exception:  # noqa: BLE001 - absent: build it
            pass
    settings = create_database(server, name)
    eng = make_engine(settings)
    try:
        t = time.perf_counter()
        fill(eng)
        with eng.begin() as conn:
            conn.execute(text("ANALYZE incidents"))
        print(f"built {name} in {time.perf_counter() - t:.0f} s", flush=True)
    finally:
        eng.dispose()
    return settings


def zstd_content_size(frame: bytes) -> int | None:
    """Frame_Content_Size of a single zstd frame (RFC 8878 §3.1.1.1), when it is given."""
    if frame[:4] != b"\x28\xb5\x2f\xfd" or len(frame) < 6:
        return None
    fhd = frame[4]
    single, fcs_flag = (fhd >> 5) & 1, fhd >> 6
    at = 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3]
    size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if size == 0:
        return None
    value = int.from_bytes(frame[at:at + size], "little")
    return value + 256 if size == 2 else value


def decoded(r: httpx.Response) -> bytes:
    """The response body decoded as a browser would.

    httpx decodes gzip and deflate itself; it has no zstd or brotli decoder in this
    environment, so those bodies are decoded here with libzstd/libbrotli (pyarrow),
    inside the timed region.
    """
    coding = r.headers.get("content-encoding", "")
    if coding not in ("zstd", "br"):
        return r.content
    import pyarrow as pa

    name = {"zstd": "zstd", "br": "brotli"}[coding]
    size = zstd_content_size(r.content) if coding == "zstd" else None
    if size is not None:  # the frame says its size: decode in one call
        try:
            return pa.Codec(name).decompress(r.content, decompressed_size=size, asbytes=True)
        except (OSError, ValueError):  # more than one frame
            pass
    return pa.CompressedInputStream(pa.BufferReader(r.content), name).read()


class Server:
    """The API in its own uvicorn process (started and stopped by its pid).

    Requests carry the ``Accept-Encoding`` of a current Chrome or Firefox over HTTPS
    (``BROWSER``) unless told otherwise; the body is fully received and decoded
    within the timed region.
    """

    def __init__(self, settings: DatabaseSettings):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = dict(os.environ, ONEMAP_DATABASE_URL=settings.database_url)
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"], cwd=ROOT, env=env)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120)
        for _ in range(200):
            try:
                if self.client.get("/healthz").status_code == 200:
                    self.ready_s = time.perf_counter() - started
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the API did not start")

    def fetch(self, path: str, params: dict, accept: str = BROWSER
              ) -> tuple[float, bytes, httpx.Response]:
        """(seconds, decoded body, response) of one GET."""
        t = time.perf_counter()
        r = self.client.get(path, params=params, headers={"Accept-Encoding": accept})
        body = decoded(r)
        dt = time.perf_counter() - t
        r.raise_for_status()
        return dt, body, r

    def timed(self, path: str, params: dict, accept: str = BROWSER) -> tuple[float, dict]:
        """(seconds, parsed JSON) of one GET; parsing is not timed."""
        dt, body, _ = self.fetch(path, params, accept)
        return dt, orjson.loads(body)

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def best_of(fn, runs: int = 3):
    """(fastest seconds, result) of ``runs`` calls."""
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def esda_pipeline(cells: np.ndarray, counts: np.ndarray) -> dict:
    """Time libpysal graph builds and esda's G_Local on the same cells and counts.

    Each step is the fastest of three runs (the 999-permutation G_Local runs once).
    Graphs: Queen contiguity of the cell polygons; a ``W`` and a ``Graph`` (from
    arrays) of each cell's ``h3.grid_disk`` neighbours; ``Graph.build_h3``.
    """
    import esda
    import geopandas as gpd
    import libpysal

    out, zs = {}, []
    ids = [h3.int_to_str(int(c)) for c in cells]
    polys = [shapely.Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(c)]) for c in ids]
    gdf = gpd.GeoDataFrame({"count": counts}, geometry=polys, crs=4326)
    y = counts.astype(float)

    def disk_pairs():
        where = {c: i for i, c in enumerate(ids)}
        focal, neighbor = [], []
        for i, c in enumerate(ids):
            for n in h3.grid_disk(c, 1):
                j = where.get(n)
                if j is not None and j != i:
                    focal.append(i)
                    neighbor.append(j)
        return np.array(focal), np.array(neighbor)

    def w_disk():
        focal, neighbor = disk_pairs()
        neighbours = {i: [] for i in range(len(ids))}
        for i, j in zip(focal.tolist(), neighbor.tolist(), strict=True):
            neighbours[i].append(j)
        return libpysal.weights.W(neighbours, silence_warnings=True)

    def graph_disk():
        focal, neighbor = disk_pairs()
        return libpysal.graph.Graph.from_arrays(focal, neighbor, np.ones(len(focal)))

    def g_local(w):
        return esda.G_Local(y, w, transform="B", star=True, permutations=0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["graph_queen"], _ = best_of(
            lambda: libpysal.weights.Queen.from_dataframe(gdf, use_index=False))
        out["graph_h3"], w = best_of(w_disk)
        out["graph_arrays"], g_arrays = best_of(graph_disk)
        out["graph_build_h3"], g_h3 = best_of(
            lambda: libpysal.graph.Graph.build_h3(ids, order=1, weight="binary"))
        for key, weights in (("g_local", w), ("g_local_arrays", g_arrays),
                             ("g_local_graph", g_h3)):
            out[key], g = best_of(lambda weights=weights: g_local(weights))
            zs.append(np.asarray(g.Zs))
        t = time.perf_counter()
        esda.G_Local(y, w, transform="B", star=True, seed=0)
        out["g_local_999"] = time.perf_counter() - t
    out["z"] = zs
    return out


def esda_fastest(e: dict) -> tuple[float, str]:
    """Seconds and name of esda's fastest pipeline: graph build + analytic G_Local."""
    options = {
        "W from grid_disk + G_Local(W)": e["graph_h3"] + e["g_local"],
        "Queen + G_Local(W)": e["graph_queen"] + e["g_local"],
        "Graph from grid_disk arrays + G_Local(Graph)": e["graph_arrays"] + e["g_local_arrays"],
        "Graph.build_h3 + G_Local(Graph)": e["graph_build_h3"] + e["g_local_graph"],
    }
    name = min(options, key=options.get)
    return options[name], name


def with_alpha(f: dict, alpha: float) -> dict:
    """The filter with another FDR level: a new query (the result cache misses)."""
    return {**f, "alpha": alpha}


def bench_hotspots(settings: DatabaseSettings) -> dict:
    """HTTP timings of /api/v1/hotspots and the esda comparison.

    Every timed "new filter" request asks for a query no earlier request asked
    (the server's result cache misses): the browser client gets FILTERS, the
    significant-only and gzip-only clients the same filters at other FDR levels.
    """
    path = "/api/v1/hotspots"
    srv = Server(settings)
    try:
        ready = srv.ready_s
        cold, first, _ = srv.fetch(path, {"res": 9})
        fc = orjson.loads(first)
        sizes = {"identity": len(first)}
        for accept in ("zstd", "gzip"):
            sizes[accept] = int(srv.fetch(path, {"res": 9}, accept)[2].headers["content-length"])
        cached = [srv.timed(path, {"res": 9})[0] for _ in range(10)]
        varied = []
        for f in FILTERS:
            dt, body = srv.timed(path, {"res": 9, **f})
            varied.append(dt)
            print(f"  {f} → {dt * 1000:.0f} ms, {body['parameters']['incidents']} incidents",
                  flush=True)
        gzip_only = [srv.timed(path, {"res": 9, **with_alpha(f, 0.02)}, GZIP_ONLY)[0]
                     for f in FILTERS]
        significant = [srv.timed(path, {"res": 9, "significant_only": "true",
                                        **with_alpha(f, 0.1)})[0] for f in FILTERS[:6]]
    finally:
        srv.close()
    late = Server(settings)  # a server asked only after its warm-up had time to finish
    try:
        time.sleep(WARM_WAIT_S)
        warm_first = late.timed(path, {"res": 9})[0]
    finally:
        late.close()
    cells = np.array([h3.str_to_int(x["properties"]["h3"]) for x in fc["features"]])
    counts = np.array([x["properties"]["count"] for x in fc["features"]])
    z = np.array([x["properties"]["gi_z"] for x in fc["features"]])
    order = np.argsort(cells)
    e = esda_pipeline(cells[order], counts[order])
    dz = max(float(np.max(np.abs(zs - z[order]))) for zs in e["z"])
    return {"significant": significant, "compute": compute_times(settings), "sizes": sizes,
            "ready": ready, "cold": cold, "warm_first": warm_first,
            "cached": statistics.median(cached), "varied": varied, "gzip_only": gzip_only,
            "cells": len(cells), "incidents": int(counts.sum()), "dz": dz, "esda": e}


def compute_times(settings: DatabaseSettings) -> list[float]:
    """In-process analysis only (filter, count, Gi*, FDR; no serialisation), warm."""
    from geo.hotspots import analyses
    from geo.hotspots.params import hotspot_query
    from geo.hotspots.runtime import HotspotService
    from geo.hotspots.settings import HotspotSettings

    eng = make_engine(settings)
    hs = HotspotSettings(cache_entries=0)
    svc = HotspotService(eng, hs, ServiceAreaSettings())
    analyses.hotspots(svc, hotspot_query(hs, res=9))
    for k in (2, 3):
        analyses.hotspots(svc, hotspot_query(hs, res=9, k=k))
    out = []
    for f in FILTERS:
        raw = {("from_" if k == "from" else k): v for k, v in f.items()}
        t = time.perf_counter()
        analyses.hotspots(svc, hotspot_query(hs, res=9, **raw))
        out.append(time.perf_counter() - t)
    eng.dispose()
    return out


def bench_sql_path(settings: DatabaseSettings) -> list[float]:
    """In-process service with the in-memory columns off (the SQL GROUP BY path)."""
    from geo.hotspots import analyses
    from geo.hotspots.params import hotspot_query
    from geo.hotspots.runtime import HotspotService
    from geo.hotspots.settings import HotspotSettings

    eng = make_engine(settings)
    hs = HotspotSettings(memory_rows=0)
    svc = HotspotService(eng, hs, ServiceAreaSettings())
    analyses.hotspots(svc, hotspot_query(hs, res=9))  # study + weights
    out = []
    for f in FILTERS:
        raw = {("from_" if k == "from" else k): v for k, v in f.items()}
        t = time.perf_counter()
        analyses.hotspots(svc, hotspot_query(hs, res=9, **raw))
        out.append(time.perf_counter() - t)
    eng.dispose()
    return out


def bench_emerging(settings: DatabaseSettings) -> dict:
    """HTTP timings of /api/v1/hotspots/emerging on the city demo."""
    srv = Server(settings)
    try:
        cold, body = srv.timed("/api/v1/hotspots/emerging", {"res": 9, "step": "week"})
        varied = [srv.timed("/api/v1/hotspots/emerging", {"res": 9, "step": "week", **f})[0]
                  for f in ({"category": "dispute"}, {"k": 2}, {"source": "12345,110"},
                            {"step": "month"}, {"time_window": 1})]
        cached = srv.timed("/api/v1/hotspots/emerging", {"res": 9, "step": "week"})[0]
    finally:
        srv.close()
    return {"cold": cold, "varied": varied, "cached": cached, "steps": body["parameters"]["steps"],
            "cells": body["parameters"]["cells"], "incidents": body["parameters"]["incidents"],
            "summary": body["summary"]}


def fill_synthetic(rows: int):
    from geo.hotspots.synthetic import Cluster, copy_incidents, synthetic_incidents

    def fill(eng):
        clusters = [Cluster(118.03, 36.81, 150, rows // 50),
                    Cluster(118.17, 36.72, 250, rows // 30),
                    Cluster(117.93, 36.88, 120, rows // 80, start_day=200)]
        background = rows - sum(c.n for c in clusters)
        copy_incidents(eng, synthetic_incidents(background, clusters, seed=1,
                                                half_m=HALF_SIDE_M))
    return fill


def fill_city(eng):
    from geo.demo import DemoSettings, load_demo

    load_demo(eng, "city", 42, progress=False, data_dir=ROOT / "bench" / ".work",
              settings=DemoSettings.from_env())


def report(h: dict, sql: list[float], em: dict | None, rows: int) -> list[str]:
    e = h["esda"]
    ours = statistics.median(h["varied"])
    fastest, fastest_name = esda_fastest(e)
    old_fastest = min(e["graph_h3"] + e["g_local"], e["graph_build_h3"] + e["g_local_graph"])
    sizes = h["sizes"]
    slowest = max(*h["varied"], *h["gzip_only"], *h["significant"])
    lines = [
        f"{platform.python_version()}, shared 2-core machine, load average "
        f"{h['load'][0]:.1f} before and {h['load'][1]:.1f} after the /hotspots part. API in a "
        "uvicorn process; each request timed over HTTP (httpx) until the body is fully "
        "received and decoded (JSON parsing not timed). Client `Accept-Encoding: "
        f"{BROWSER}` as Chrome/Firefox send over HTTPS (zstd bodies are decoded with libzstd "
        "from pyarrow, httpx having no zstd decoder here), or `gzip, deflate` as over plain "
        "HTTP. Every \"new filter\" is a query the server had not answered before.",
        "",
        f"**/api/v1/hotspots**, {rows:,} synthetic incidents, res 9, {h['cells']:,} study cells "
        "(zeros included), all cells as GeoJSON:",
        "",
        "| measure | seconds |", "|---|---|",
        f"| server start until `/healthz` answers | {h['ready']:.3f} |",
        f"| first request right after that (waits for the warm-up under way) | "
        f"{h['cold']:.3f} |",
        f"| first request {WARM_WAIT_S:.0f} s after start (warm-up done in the background) | "
        f"{h['warm_first']:.3f} |",
        f"| new filter, median of {len(h['varied'])} (time/category/source/bbox/k/alpha), "
        f"zstd | {ours:.4f} |",
        f"| new filter, max, zstd | {max(h['varied']):.4f} |",
        f"| new filter, median of {len(h['gzip_only'])}, gzip-only client | "
        f"{statistics.median(h['gzip_only']):.4f} |",
        f"| new filter, max, gzip-only client | {max(h['gzip_only']):.4f} |",
        f"| new filter, `significant_only=true`, median of {len(h['significant'])} | "
        f"{statistics.median(h['significant']):.4f} |",
        f"| repeated request (result and body cached), median | {h['cached']:.4f} |",
        f"| in-process analysis only (filter, count, Gi*, FDR; weights warm), median | "
        f"{statistics.median(h['compute']):.4f} |",
        f"| SQL GROUP BY path (in-memory columns off), in-process median | "
        f"{statistics.median(sql):.3f} |",
        f"| esda: graph Queen.from_dataframe | {e['graph_queen']:.3f} |",
        f"| esda: graph W from h3.grid_disk | {e['graph_h3']:.3f} |",
        f"| esda: graph Graph.from_arrays of h3.grid_disk pairs | {e['graph_arrays']:.3f} |",
        f"| esda: graph libpysal.graph.Graph.build_h3 | {e['graph_build_h3']:.3f} |",
        f"| esda: G_Local(W, transform='B', star=True, permutations=0) | {e['g_local']:.3f} |",
        f"| esda: G_Local(Graph from arrays, …, permutations=0) | {e['g_local_arrays']:.3f} |",
        f"| esda: G_Local(Graph.build_h3, …, permutations=0) | {e['g_local_graph']:.3f} |",
        f"| esda: G_Local default (999 permutations) | {e['g_local_999']:.3f} |",
        "",
        f"z vs esda (every pipeline) on the full-window counts: max |Δz| = {h['dz']:.2e}. "
        f"esda's fastest pipeline (graph + analytic G_Local, counts already in memory; each "
        f"step the best of 3 runs) is {fastest_name}, {fastest:.3f} s. Speed-up of our median "
        f"new-filter API answer over it: **{fastest / ours:.1f}×** (gzip-only client: "
        f"{fastest / statistics.median(h['gzip_only']):.1f}×; over the pipelines measured "
        f"before, W from grid_disk or Graph.build_h3 with G_Local, {old_fastest:.3f} s: "
        f"{old_fastest / ours:.1f}×); vs Queen graph + default G_Local: "
        f"{(e['graph_queen'] + e['g_local_999']) / ours:.0f}×; significant cells only: "
        f"{fastest / statistics.median(h['significant']):.0f}×; analysis to analysis "
        f"(no HTTP/JSON): {fastest / statistics.median(h['compute']):.0f}×. Response: "
        f"{sizes['identity'] / 1e6:.2f} MB of GeoJSON, {sizes['zstd'] / 1e6:.2f} MB as zstd, "
        f"{sizes['gzip'] / 1e6:.2f} MB as gzip. Targets: < 0.5 s "
        f"({'met' if slowest < 0.5 else 'NOT met'} for every filter and client, slowest "
        f"{slowest:.3f} s), ≥ 20× ({'met' if fastest / ours >= 20 else 'NOT met'}).",
    ]
    if em:
        lines += [
            "",
            f"**/api/v1/hotspots/emerging** on the city demo (seed 42, {em['incidents']:,} "
            f"incidents, {em['cells']} cells × {em['steps']} weekly steps):",
            "",
            "| measure | seconds |", "|---|---|",
            f"| first request (loads columns, study, weights) | {em['cold']:.3f} |",
            f"| new parameters, median of {len(em['varied'])} (category/k/source/month/"
            f"time_window) | {statistics.median(em['varied']):.3f} |",
            f"| new parameters, max | {max(em['varied']):.3f} |",
            f"| repeated request | {em['cached']:.4f} |",
            "",
            f"Categories: {em['summary']}. Target < 3 s: "
            f"{'met' if max(em['cold'], *em['varied']) < 3 else 'NOT met'}.",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the databases")
    parser.add_argument("--skip-city", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from conftest import _server_settings, drop_database

    server = _server_settings()
    made = []
    try:
        syn = database(server, DB_SYN, args.keep, fill_synthetic(args.rows))
        made.append(DB_SYN)
        before = os.getloadavg()[0]
        h = bench_hotspots(syn)
        h["load"] = (before, os.getloadavg()[0])
        sql = bench_sql_path(syn)
        em = None
        if not args.skip_city:
            city = database(server, DB_CITY, args.keep, fill_city)
            made.append(DB_CITY)
            em = bench_emerging(city)
    finally:
        if not args.keep:
            for name in made:
                drop_database(server, name)
    lines = report(h, sql, em, args.rows)
    print("\n".join(lines))
    if not args.no_write:
        write_results(lines)


if __name__ == "__main__":
    main()

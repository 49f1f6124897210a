"""Response-circle benchmark (ARCHITECTURE.md §7) on the ``city`` demo.

- all areas (dissolved, split and per post) and the community figures for 1/3/5
  minutes driving with every post, target < 2 s: computed in a new process with an
  empty cache (imports excluded), with an empty cache, after a change to posts and
  after a new incident (only what depends on them is recomputed), warm; and over
  HTTP from a real ``onemap serve`` (which warms its caches in the background, see
  geo/response/warm.py): right when it answers ``/healthz``, 20 s after start, and
  right after a change to posts and a new incident (before the warm-up's next look);
- nearest post over HTTP, median of 200 random points, target < 50 ms;
- pgRouting's ``pgr_drivingDistance`` vs networkx vs scipy csgraph from every post on
  the same graph (5-minute limit): time and largest difference in seconds.

Writes the ``## Response circles`` section of ``bench/RESULTS.md``.

Usage::

    python bench/response.py [--size city] [--no-write] [--keep-db]
    python bench/response.py --first-compute figures|warm-up   # (internal) one, this process
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from geo.response.settings import ResponseSettings
from geo.settings import ServiceAreaSettings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _results  # noqa: E402

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from geo.db.engine import make_engine  # noqa: E402

SECTION = "## Response circles"
NOTE = ("What is computed: the buildings, key places and the last 90 days of incidents are "
        "read and joined to their street once per version of theirs and of the roads; a "
        "change to posts re-routes the posts and re-joins only the edges they split; a new "
        "incident re-reads and re-joins the incidents only (the areas do not depend on "
        "them). *New process* = a fresh Python process (imports done, nothing else: the first "
        "use of PROJ, GEOS and the database connection is paid here) with an empty cache: the "
        "old \"cold\" figure. *Empty cache* = the same in a process that has computed before. "
        "*Over HTTP* = a real `onemap serve`, four requests one after the other, bodies "
        "received: at start and after each change it computes every mode's reach and the "
        "default areas in a background thread (`ONEMAP_RESPONSE_WARM_UP`; it looks at the "
        "layer versions every `ONEMAP_RESPONSE_WARM_POLL_S` = 5 s), in the same process as "
        "the hotspot warm-up, which reads all incidents at start. A request that arrives "
        "while it computes waits for that computation (it is not done twice); one that "
        "arrives before it noticed a change computes what changed itself, so answers are "
        "never older than the data — except the incident figures, which may use the "
        "incidents read up to `ONEMAP_RESPONSE_INCIDENTS_LAG_S` = 60 s before while the "
        "warm-up reads a new version (the summary says `incidents_stale`). Area answers and "
        "their compressed bodies are kept per (versions, posts); the community figures are "
        "computed on every request.")
DB_NAME = "onemap_bench_response"


def _timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def all_figures(engine, cache, answers=None):
    """Every area and figure for 1/3/5 minutes driving (areas kept in ``answers`` if given)."""
    from geo.response.areas import cached_areas
    from geo.response.context import reach_context
    from geo.response.summary import response_summary

    ctx = reach_context(engine, "drive", cache=cache, settings=ResponseSettings(),
                        area=ServiceAreaSettings())
    out = [cached_areas(ctx, (1.0, 3.0, 5.0), o, answers) for o in ("dissolve", "split",
                                                                   "overlap")]
    with engine.connect() as conn:
        out.append(response_summary(ctx, conn, "community", (1.0, 3.0, 5.0)))
    return ctx, out


_NEW_INCIDENT = (
    "INSERT INTO incidents (external_id, source, category, subcategory, occurred_at, status, "
    "h3, grid_id, geom, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11, h3_12) "
    "SELECT 'bench-response-' || :n, source, category, subcategory, now() - interval '1 hour', "
    "status, h3, grid_id, geom, h3_6, h3_7, h3_8, h3_9, h3_10, h3_11, h3_12 "
    "FROM incidents ORDER BY id LIMIT 1")
_TOGGLE_POST = (
    "UPDATE posts SET status = CASE status WHEN 'on_duty' THEN 'off_duty' ELSE 'on_duty' END "
    "WHERE id = (SELECT max(id) FROM posts WHERE mode = 'drive')")


def change(engine, what: str) -> None:
    """A change to posts (the last driving post goes off or back on duty) or a new incident."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text(_TOGGLE_POST if what == "posts" else _NEW_INCIDENT),
                     {"n": str(time.time_ns())})


def first_compute(what: str) -> None:
    """One cold compute in this (new) process; prints the seconds.

    ``figures``: :func:`all_figures`; ``warm-up``: what the server's warm-up does at start
    (both modes, the default areas).
    """
    import geo.response.areas  # noqa: F401 - imports are not what is measured
    import geo.response.summary  # noqa: F401
    from geo.response.context import ResponseCache
    from geo.response.warm import ResponseWarmer
    from geo.settings import DatabaseSettings

    engine = make_engine(DatabaseSettings())
    if what == "warm-up":
        warmer = ResponseWarmer(engine, ResponseCache(), ResponseCache(size=16),
                                settings=ResponseSettings(), area=ServiceAreaSettings())
        t, _ = _timed(warmer.step)
    else:
        t, _ = _timed(lambda: all_figures(engine, ResponseCache()))
    print(f"{t:.4f}")


def peers(engine, ctx, limit_s: float = 300.0) -> list[str]:
    """pgr_drivingDistance vs networkx vs scipy from every post (seconds to nodes)."""
    import networkx as nx

    from geo.response.pgr import pgr_node_seconds, write_graph

    g = ctx.graph
    t_scipy, d = _timed(lambda: g.node_seconds(limit_s), repeat=3)
    u, v, w, _ = g.arcs()

    def nx_all():
        G = nx.DiGraph()
        for a, b, c in zip(u.tolist(), v.tolist(), w.tolist(), strict=True):
            if not G.has_edge(a, b) or G[a][b]["w"] > c:
                G.add_edge(a, b, w=max(c, 1e-9))
        out = []
        for p in range(len(g.post_node)):
            off = g.post_offset[p]
            dist = nx.single_source_dijkstra_path_length(G, int(g.post_node[p]),
                                                         cutoff=limit_s - off, weight="w")
            out.append({n: s + off for n, s in dist.items()})
        return out

    t_nx, nxd = _timed(nx_all)
    with engine.begin() as conn:
        write_graph(conn, g)
        t_pgr, pgr = _timed(lambda: [pgr_node_seconds(conn, g, p, limit_s, written=True)
                                     for p in range(len(g.post_node))])
    diff_nx = diff_pgr = 0.0
    nodes = 0
    for p in range(len(g.post_node)):
        mine = np.flatnonzero(d[p] <= limit_s - 1e-6)
        nodes += len(mine)
        diff_nx = max(diff_nx, float(np.max(np.abs([nxd[p][n] - d[p][n] for n in mine]))))
        diff_pgr = max(diff_pgr, float(np.max(np.abs([pgr[p][n] - d[p][n] for n in mine]))))
    return [
        f"| scipy `csgraph.dijkstra` (all posts, one call) | {t_scipy * 1000:.1f} ms | — |",
        f"| networkx `single_source_dijkstra_path_length` (per post, graph built in) | "
        f"{t_nx * 1000:.0f} ms | {diff_nx:.2e} s |",
        f"| pgRouting `pgr_drivingDistance` (per post, one query each) | {t_pgr * 1000:.0f} ms "
        f"| {diff_pgr:.2e} s |",
        f"\n{len(g.post_node)} posts, {g.n_nodes:,} nodes, {len(g.src):,} edges, "
        f"{nodes:,} (post, node) pairs within {limit_s:.0f} s compared.",
    ]


def oracle(engine, ctx) -> list[str]:
    """Households reached per break: the product vs the independent networkx oracle."""
    from response_oracle import oracle_households

    t0 = time.perf_counter()
    want = oracle_households(engine, "drive", (1, 3, 5))
    secs = time.perf_counter() - t0
    hh = ctx.buildings.frame["households"].to_numpy(float)
    best = ctx.building_s.min(axis=0)
    rows = []
    for m in (1, 3, 5):
        got = float(hh[best <= m * 60].sum())
        rel = abs(got - want[m]) / want[m] if want[m] else float(got != 0)
        rows.append(f"| {m} min | {got:,.0f} | {want[m]:,.0f} | {100 * rel:.3f}% |")
    return ["| break | households (product) | households (networkx oracle) | difference |",
            "|---|---|---|---|", *rows, "",
            f"The oracle (tests/response_oracle.py, {secs:.0f} s) nodes the roads and joins "
            "posts and buildings on its own."]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(url: str):
    port = _free_port()
    env = {**os.environ, "ONEMAP_DATABASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def _figures_http(client) -> float:
    """Seconds for the four requests of ``all_figures`` over HTTP, one after the other."""
    t0 = time.perf_counter()
    for params in ({"overlap": "dissolve"}, {"overlap": "split"}, {"overlap": "overlap"}):
        r = client.get("/api/v1/response/areas", params={"minutes": "1,3,5", **params})
        assert r.status_code == 200, r.text
    r = client.get("/api/v1/response/summary", params={"level": "community",
                                                       "minutes": "1,3,5"})
    assert r.status_code == 200, r.text
    return time.perf_counter() - t0


def over_http(url: str, engine, bbox, n: int = 200) -> dict:
    """All figures over HTTP at start, later, after changes; nearest post median and p95 ms."""
    import httpx

    proc, base = _serve(url)
    out = {}
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            started = time.perf_counter()
            for _ in range(240):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.25)
            out["healthz_s"] = time.perf_counter() - started
            out["at_start"] = _figures_http(client)
            time.sleep(max(0.0, 20.0 - (time.perf_counter() - started)))
            out["after_20s"] = _figures_http(client)
            out["repeat"] = min(_figures_http(client) for _ in range(3))
            rng = np.random.default_rng(1)
            x0, y0, x1, y1 = bbox
            client.get("/api/v1/response/nearest", params={"lon": (x0 + x1) / 2,
                                                           "lat": (y0 + y1) / 2})
            ms = []
            for _ in range(n):
                lon, lat = rng.uniform(x0, x1), rng.uniform(y0, y1)
                t0 = time.perf_counter()
                r = client.get("/api/v1/response/nearest", params={"lon": lon, "lat": lat,
                                                                   "k": 3})
                ms.append((time.perf_counter() - t0) * 1000)
                assert r.status_code in (200, 422), r.text
            out["nearest_ms"] = (statistics.median(ms), float(np.percentile(ms, 95)))
            for what in ("posts", "incident"):
                time.sleep(6)  # the warm-up has looked since the last change
                change(engine, what)
                out[f"after_{what}"] = _figures_http(client)
            time.sleep(6)
            change(engine, "posts")  # the post back on duty
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def _median_of(n: int, fn) -> float:
    return statistics.median(fn() for _ in range(n))


def in_process(engine, url: str) -> dict:
    """All figures in this process: new process, empty cache, after changes, warm, kept."""
    from geo.response.context import ResponseCache

    env = {**os.environ, "ONEMAP_DATABASE_URL": url}

    def new_process(what: str) -> float:
        return float(subprocess.run([sys.executable, __file__, "--first-compute", what],
                                    env=env, cwd=ROOT, check=True, capture_output=True,
                                    text=True).stdout.split()[-1])

    out = {"new_process": _median_of(3, lambda: new_process("figures")),
           "warm_up": _median_of(3, lambda: new_process("warm-up")),
           "empty_cache": _median_of(3, lambda: _timed(
               lambda: all_figures(engine, ResponseCache()))[0])}
    cache = ResponseCache()
    ctx, figures = all_figures(engine, cache)
    out["ctx"], out["figures"] = ctx, figures

    def after(what: str) -> float:
        all_figures(engine, cache)
        change(engine, what)
        t, _ = _timed(lambda: all_figures(engine, cache))
        if what == "posts":
            change(engine, what)  # back on duty
        return t

    out["after_posts"] = _median_of(3, lambda: after("posts"))
    out["after_incident"] = _median_of(3, lambda: after("incident"))
    all_figures(engine, cache)
    out["warm"] = _timed(lambda: all_figures(engine, cache), repeat=3)[0]
    answers = ResponseCache(size=16)
    all_figures(engine, cache, answers)
    out["kept"] = _timed(lambda: all_figures(engine, cache, answers), repeat=3)[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="city")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--db", help="use this existing database (a demo already loaded)")
    parser.add_argument("--first-compute", choices=("figures", "warm-up"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_compute:
        return first_compute(args.first_compute)

    from conftest import _server_settings, create_database, drop_database
    from sqlalchemy import text

    from geo.demo import DemoSettings, load_demo
    from geo.settings import DatabaseSettings

    server = _server_settings()
    t_load = None
    if args.db:
        settings = DatabaseSettings(database_url=args.db)
    else:
        settings = create_database(server, DB_NAME)
    engine = make_engine(settings)
    try:
        if not args.db:
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as truth_dir:
                load_demo(engine, args.size, 42, progress=False, data_dir=Path(truth_dir),
                          settings=DemoSettings.from_env())
            t_load = time.perf_counter() - t0
        with engine.connect() as conn:
            counts = conn.execute(text(
                "SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM posts "
                "WHERE status = 'on_duty' AND mode = 'drive'), (SELECT count(*) FROM "
                "response_edges)")).first()
            bbox = conn.execute(text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom)::geometry AS e FROM buildings) q")).first()
        load_before = os.getloadavg()
        t = in_process(engine, settings.database_url)
        ctx, out = t["ctx"], t["figures"]
        incidents = len(ctx.incidents.frame)
        hh = [f["properties"]["households"] for f in out[0]["features"]]
        peer_rows = peers(engine, ctx)
        oracle_rows = oracle(engine, ctx)
        http = over_http(settings.database_url, engine, tuple(bbox))
        load = os.getloadavg()
    finally:
        engine.dispose()
        if not args.db and not args.keep_db:
            drop_database(server, DB_NAME)
    med, p95 = http["nearest_ms"]
    loaded = f" (demo loaded in {t_load:.0f} s)" if t_load is not None else ""

    def ok(s: float) -> str:
        return "met" if s < 2 else "**not met**"

    rows = [("in-process: new process, empty cache (median of 3 processes)", t["new_process"]),
            ("in-process: the server's warm-up in a new process (both modes, default areas; "
             "median of 3)", t["warm_up"]),
            ("in-process: empty cache (median of 3)", t["empty_cache"]),
            ("in-process: after a change to posts (median of 3)", t["after_posts"]),
            ("in-process: after a new incident (median of 3)", t["after_incident"]),
            ("in-process: warm, areas drawn again (best of 3)", t["warm"]),
            ("in-process: warm, areas kept (best of 3)", t["kept"]),
            ("HTTP: server start, first request as soon as /healthz answers "
             f"({http['healthz_s']:.1f} s after launch)", http["at_start"]),
            ("HTTP: server start, first request 20 s after launch", http["after_20s"]),
            ("HTTP: repeated request (best of 3)", http["repeat"]),
            ("HTTP: right after a change to posts (before the warm-up's next look)",
             http["after_posts"]),
            ("HTTP: right after a new incident (ditto)", http["after_incident"])]
    lines = [
        f"`{args.size}` demo: {counts[0]:,} buildings, {counts[1]} on-duty driving posts, "
        f"{counts[2]:,} network edges, {incidents:,} incidents in the last 90 days{loaded}. "
        f"Load average {load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f} "
        f"(1/5/15 min) at the start of the timings, {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} at the end, on a 2-core machine shared by 7 helpers.",
        "",
        "All areas (dissolved, split, per post) and the community figures for 1/3/5 minutes "
        "driving with every post (target < 2 s):",
        "",
        "| how | seconds | < 2 s |",
        "|---|---|---|",
        *[f"| {name} | {sec:.3f} | {ok(sec)} |" for name, sec in rows],
        "",
        f"Nearest post over HTTP (k = 3, route included), median / p95 of 200 random points: "
        f"{med:.1f} / {p95:.1f} ms (target < 50 ms median: {'met' if med < 50 else 'NOT met'}).",
        "",
        NOTE,
        "",
        f"Households reached (dissolved) within 1/3/5 min: {', '.join(f'{h:,}' for h in hh)}.",
        "",
        "Households reached against an independent oracle (target: within 1%):",
        "",
        *oracle_rows,
        "",
        "Shortest paths from every driving post, 5-minute limit, on the same graph:",
        "",
        "| engine | time | largest difference from scipy |",
        "|---|---|---|",
        *peer_rows,
    ]
    print("\n".join(lines))
    if not args.no_write:
        _results.write_section(SECTION, lines)


if __name__ == "__main__":
    main()

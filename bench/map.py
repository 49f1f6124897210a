"""First render of the 一张图 page on the ``city`` demo, in headless Chromium.

Targets (ARCHITECTURE.md §7, issue 17): DOMContentLoaded → first vector tile drawn
< 1.5 s, every opening layer drawn < 2.5 s, zero requests off the host, the
requests of a cold load counted; ``GET /api/v1/coverage/gaps?limit=5`` < 300 ms
(also right after a planner's draft edit, which used to make it recompute).
Writes the ``## Map page`` section of ``bench/RESULTS.md``.

Each opening layer's "drawn" time is the page's own mark
(``onemap.metrics.drawn[key]``: all tiles loaded, or the analysis fetched and drawn).

The page marks the moment its first vector tile has been drawn
(``data-first-tile``, a ``performance.now()`` value); the bench subtracts the
navigation's ``domContentLoadedEventStart``. Each cold run uses a fresh browser
context (empty HTTP cache); the first run also meets a cold server (empty tile
cache, nothing memoised), later ones a warm server. A warm run reloads in the
same context (assets from the browser cache).

The city demo is built once into ``onemap_bench_map`` on the embedded cluster
(or ``ONEMAP_BENCH_DATABASE_URL``) and kept between runs (``--fresh`` rebuilds).

Usage: ``python bench/map.py [--runs 7] [--fresh] [--no-write]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psycopg
from playwright.sync_api import sync_playwright
from rich.console import Console
from sqlalchemy import text

from geo.gridplan.settings import GridPlanSettings
from geo.settings import ServiceAreaSettings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _results  # noqa: E402

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from api.testing.server import Server  # noqa: E402
from geo.db import migrate  # noqa: E402
from geo.db.engine import make_engine  # noqa: E402
from geo.db.urls import libpq_url, sqlalchemy_url, url_string  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402

SECTION = "## Map page"
DB_NAME = "onemap_bench_map"
TARGET_MS = 1500.0
LAYERS_MS = 2500.0
GAPS_MS = 300.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
FIRST_RENDER_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const first = Number(document.documentElement.dataset.firstTile);
  const dcl = nav.domContentLoadedEventStart;
  return {dcl: dcl, first: first, render: first - dcl};
}"""
# All layers shown at opening have drawn (tiles loaded, heatmap fetched).
SETTLED_JS = """() => Object.values(onemap.overlays).filter(l => onemap.map.hasLayer(l)).every(l =>
  [l].concat(l instanceof L.LayerGroup ? l.getLayers() : [])
     .every(x => x._loading !== true && x.status !== 'loading' && x.status !== 'idle'))"""

console = Console()


def city_database(fresh: bool) -> DatabaseSettings:
    """Settings of a database holding the city demo (built when missing or ``fresh``)."""
    url = os.environ.get("ONEMAP_BENCH_DATABASE_URL")
    if url:
        settings = DatabaseSettings(database_url=url)
    else:
        from conftest import _server_settings, create_database  # the suite's own helpers

        server = _server_settings()
        with psycopg.connect(libpq_url(server, "postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DB_NAME,)).fetchone()
        if fresh or not exists:
            create_database(server, DB_NAME)
        settings = DatabaseSettings(database_url=url_string(sqlalchemy_url(server, DB_NAME)),
                                    data_dir=ROOT / "data")
    migrate.upgrade(settings)
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM buildings")).scalar_one()
        if n == 0:
            from geo.demo import DemoSettings, load_demo

            console.print("map bench: building the city demo (once)")
            load_demo(engine, "city", 42, progress=True, data_dir=ROOT / "bench" / ".work",
                      settings=DemoSettings.from_env())
    finally:
        engine.dispose()
    return settings


def start_server(database_url: str) -> Server:
    """The service on a free loopback port, once /readyz answers (log in bench/.work)."""
    server = Server({"ONEMAP_DATABASE_URL": database_url}, keep_onemap_env=True,
                    log=ROOT / "bench" / ".work" / "map-server.log")
    try:
        return server.wait(timeout_s=120)
    except RuntimeError as exc:
        raise SystemExit(f"map bench: {exc}") from None


def measure(page, url: str, host: str, reload: bool = False) -> dict:
    """One page load: first render (ms), settle time (ms), requests, off-host requests."""
    requests: list[str] = []
    slow: list[tuple[float, str]] = []

    def on_request(r) -> None:
        requests.append(r.url)

    def on_finished(r) -> None:
        t = r.timing
        if t and t.get("responseEnd", -1) > 0:
            slow.append((t["responseEnd"] - max(t.get("requestStart", 0), 0), r.url))

    page.on("request", on_request)
    page.on("requestfinished", on_finished)
    if reload:
        page.reload()
    else:
        page.goto(url)
    page.wait_for_function("document.documentElement.dataset.firstTile !== undefined",
                           timeout=60_000)
    m = page.evaluate(FIRST_RENDER_JS)
    page.wait_for_function(SETTLED_JS, timeout=120_000)
    settled = page.evaluate("performance.now()") - m["dcl"]
    page.wait_for_function("Object.keys(onemap.metrics.drawn).length === "
                           "onemap.cfg.visible.filter(k => onemap.overlays[k]).length",
                           timeout=120_000)
    drawn = {k: v - m["dcl"] for k, v in page.evaluate("onemap.metrics.drawn").items()}
    off = [u for u in requests if urlparse(u).scheme in ("http", "https")
           and urlparse(u).netloc != host]
    page.remove_listener("request", on_request)
    page.remove_listener("requestfinished", on_finished)
    slow.sort(reverse=True)
    return {"render": m["render"], "settled": settled, "requests": len(requests), "off": off,
            "slowest": slow[:3], "drawn": drawn}


def run(url: str, runs: int) -> tuple[list[dict], list[dict]]:
    """Cold runs (fresh context each) and warm runs (reload in one context)."""
    host = urlparse(url).netloc
    cold, warm = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for i in range(runs):
            ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = ctx.new_page()
            cold.append(measure(page, url + "/map", host))
            console.print(f"cold run {i + 1}: first tile {cold[-1]['render']:.0f} ms, "
                          f"settled {cold[-1]['settled']:.0f} ms, {cold[-1]['requests']} requests; "
                          + ", ".join(f"{k} {v:.0f}" for k, v in cold[-1]["drawn"].items())
                          + "; "
                          "slowest: "
                          + ", ".join(f"{ms:.0f} ms {u.split('?')[0][len(url):]}"
                                      for ms, u in cold[-1]["slowest"]))
            if i == runs - 1:
                for j in range(3):
                    warm.append(measure(page, url + "/map", host, reload=True))
                    console.print(f"warm run {j + 1}: first tile {warm[-1]['render']:.0f} ms")
            ctx.close()
        browser.close()
    return cold, warm


def topic_times(url: str) -> dict:
    """Switch each topic panel on (cold server caches): ms until it has drawn, and its API."""
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url + "/map", wait_until="domcontentloaded")
        page.wait_for_function("document.documentElement.dataset.onemap === 'ready'")
        page.click("#om-tab-topics")
        for key in ("response", "cases", "safety"):
            t = time.perf_counter()
            page.check(f"#om-topic-{key}")
            page.wait_for_function(f"document.getElementById('om-topic-detail-{key}')"
                                   ".dataset.state === 'ready'", timeout=180_000)
            out[key] = 1000 * (time.perf_counter() - t)
            console.print(f"topic {key}: {out[key]:.0f} ms")
        out["errors"] = len(errors)
        browser.close()
    return out


def write_results(lines: list[str]) -> None:
    """Replace (or append) this script's section of bench/RESULTS.md."""
    _results.write_section(SECTION, lines)


def gap_times(url: str, settings: DatabaseSettings, runs: int = 15) -> dict:
    """``GET /api/v1/coverage/gaps?limit=5``: first call, warm median, and after a draft edit."""
    from geo.gridplan import plans
    from geo.gridplan.edits import apply_edit

    def one() -> float:
        t = time.perf_counter()
        r = httpx.get(url + "/api/v1/coverage/gaps", params={"limit": 5}, timeout=120)
        r.raise_for_status()
        return 1000 * (time.perf_counter() - t)

    first = one()
    # Steady state: wait until a background refresh (if the first call found the gaps stale)
    # is done, so the warm calls do not share the server's CPU with it.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        body = httpx.get(url + "/api/v1/coverage/gaps", params={"limit": 1}, timeout=120).json()
        if not body.get("stale"):
            break
        time.sleep(2)
    warm = statistics.median(one() for _ in range(runs))
    engine = make_engine(settings)
    try:
        with engine.begin() as conn:
            active = conn.execute(text(
                "SELECT id FROM grid_plans WHERE status = 'active' ORDER BY id DESC LIMIT 1")
            ).scalar_one()
            draft = plans.create_plan(conn, "bench draft", from_plan=active, author="bench")
            code = conn.execute(text("SELECT code FROM grids WHERE plan_id = :p LIMIT 1"),
                                {"p": draft}).scalar_one()
        apply_edit(engine, draft, {"op": "lock", "grid": code}, actor="bench",
                   settings=GridPlanSettings(), area=ServiceAreaSettings())
        after_edit = one()
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM grid_plans WHERE id = :p"), {"p": draft})
    finally:
        engine.dispose()
    return {"first": first, "warm": warm, "after_edit": after_edit}


def report(cold: list[dict], warm: list[dict], counts: dict, gaps: dict,
           topics: dict) -> list[str]:
    first = cold[0]["render"]
    later = [r["render"] for r in cold[1:]] or [first]
    med = statistics.median(later)
    worst = max(r["render"] for r in cold)
    off = sum(len(r["off"]) for r in cold + warm)
    keys = list(cold[0]["drawn"])
    layer_med = {k: statistics.median(r["drawn"][k] for r in cold[1:] or cold) for k in keys}
    layers_worst = max(layer_med.values())
    ok = (worst < TARGET_MS and layers_worst < LAYERS_MS and off == 0
          and max(gaps["warm"], gaps["after_edit"]) < GAPS_MS)
    load = os.getloadavg()
    return [
        f"City demo ({counts['buildings']:,} buildings, {counts['grids']:,} grids, "
        f"{counts['cameras']:,} cameras, {counts['incidents']:,} incidents); Chromium "
        f"1920×1080, default layers (base, admin areas, grids, cameras, heatmap).",
        "",
        "| run | DOMContentLoaded → first vector tile drawn | all opening layers drawn |",
        "|---|---|---|",
        f"| cold browser, cold server (1st) | {first:.0f} ms | {cold[0]['settled']:.0f} ms |",
        f"| cold browser, warm server (median of {len(later)}) | {med:.0f} ms | "
        f"{statistics.median(r['settled'] for r in cold[1:] or cold):.0f} ms |",
        f"| warm browser (median of {len(warm)}) | "
        f"{statistics.median(r['render'] for r in warm):.0f} ms | "
        f"{statistics.median(r['settled'] for r in warm):.0f} ms |",
        "",
        "Each opening layer drawn (cold browser, warm server, median): "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in layer_med.items())
        + f" — slowest {layers_worst:.0f} ms vs target < {LAYERS_MS:.0f} ms.",
        "",
        f"`GET /api/v1/coverage/gaps?limit=5`: first call {gaps['first']:.0f} ms (stored gaps, "
        "recomputed in the background when stale), warm median "
        f"{gaps['warm']:.0f} ms, right after a planner's draft edit {gaps['after_edit']:.0f} ms "
        f"(target < {GAPS_MS:.0f} ms).",
        "",
        "Topic panels switched on one after another (专题 tab, first request of each on this "
        f"server): 应急处置圈 {topics['response']:.0f} ms (areas, city and community reach), "
        f"案件预警 {topics['cases']:.0f} ms (figures, lights, warning list), 平安指数 "
        f"{topics['safety']:.0f} ms (computed and stored); console errors: {topics['errors']}.",
        "",
        f"Worst first render {worst:.0f} ms vs target < {TARGET_MS:.0f} ms; requests off the host: "
        f"{off} (target 0); requests per cold load: "
        f"{statistics.median(r['requests'] for r in cold):.0f} (median). "
        f"Load average during the run {load[0]:.2f} / {load[1]:.2f} (1 / 5 min), shared 2-core "
        f"machine. **{'PASS' if ok else 'FAIL'}**",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="cold runs (default 7)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the city demo database")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    settings = city_database(args.fresh)
    engine = make_engine(settings)
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("buildings", "grids", "cameras", "incidents")}
    engine.dispose()
    server = start_server(settings.database_url or "")
    url = server.url
    try:
        cold, warm = run(url, args.runs)
        gaps = gap_times(url, settings)
        topics = topic_times(url)
    finally:
        server.stop()
    lines = report(cold, warm, counts, gaps, topics)
    console.print("\n".join(lines))
    if not args.no_write:
        write_results(lines)


if __name__ == "__main__":
    main()

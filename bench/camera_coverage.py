"""Coverage benchmark (ARCHITECTURE.md §7): full refresh of every camera view on the ``large``
demo (~10k cameras × ~50k buildings, target < 60 s), one camera edited end to end
through the HTTP API (target < 100 ms), and lazy greedy vs exact MCLP on a small
instance (coverage and time of both).

Writes the ``## Coverage`` section of ``bench/RESULTS.md``.

Usage::

    python bench/camera_coverage.py [--size large] [--edits 30] [--no-write]

The demo layers (all but incidents, which the refresh does not read) are loaded
into their own database (``onemap_bench_coverage``), dropped afterwards; the
siting comparison runs on the ``small`` demo with its incidents.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from geo.io.settings import IngestSettings
from geo.settings import ServiceAreaSettings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _results  # noqa: E402

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import text  # noqa: E402

from geo.coverage.settings import CoverageSettings  # noqa: E402
from geo.db.engine import make_engine  # noqa: E402

SECTION = "## Coverage"
DB_NAME = "onemap_bench_coverage"
SMALL_DB = "onemap_bench_coverage_small"


def write_results(lines: list[str]) -> None:
    """Replace (or append) this script's section of bench/RESULTS.md."""
    _results.write_section(SECTION, lines)


def load_layers(engine, size: str, seed: int, skip=("incidents",)) -> dict:
    """Generate a demo city and load its layers (without ``skip``)."""
    from geo.demo import generate
    from geo.io.load import load_frame

    t = time.perf_counter()
    city = generate(size, seed, progress=False)
    for name, frame in city.layers():
        if name not in skip:
            load_frame(engine, name, frame, progress=False, label=name.rstrip("s"),
                       settings=IngestSettings(), area=ServiceAreaSettings())
    print(f"{size} demo generated and loaded in {time.perf_counter() - t:.0f} s", flush=True)
    return city.truth["counts"]


def bench_refresh(engine, workers: int) -> tuple[float, object]:
    """Full refresh time with ``workers`` processes."""
    from geo.coverage.views import refresh_all

    settings = CoverageSettings(_env_file=None, workers=workers)
    t = time.perf_counter()
    report = refresh_all(engine, settings, area=ServiceAreaSettings())
    return time.perf_counter() - t, report


def bench_edits(settings, n: int) -> dict:
    """PUT /api/v1/cameras/{id} end to end (validate, update, recompute the view, answer)."""
    import numpy as np
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings
    from api.state import AppState

    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=settings))
    rng = np.random.default_rng(1)
    with TestClient(app) as client:
        engine = app.state.onemap.engine
        with engine.connect() as conn:
            ids = [r[0] for r in conn.execute(text(
                "SELECT id FROM cameras WHERE status = 'online' ORDER BY id"))]
        picks = rng.choice(ids, n + 3, replace=False)
        times, inner = [], []
        for i, cid in enumerate(picks):
            body = {"azimuth": float(rng.uniform(0, 360))}
            t = time.perf_counter()
            r = client.put(f"/api/v1/cameras/{int(cid)}", json=body)
            dt = time.perf_counter() - t
            assert r.status_code == 200, r.text
            if i >= 3:  # warm-up: connection pool, imports
                times.append(dt)
                inner.append(r.json()["properties"]["view_refresh_s"])
    return {"median_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * sorted(times)[int(0.95 * (len(times) - 1))],
            "max_ms": 1000 * max(times), "view_ms": 1000 * statistics.median(inner), "n": n}


def bench_siting(engine, k: int, time_limit: float, weight: str, days: int) -> dict:
    """Lazy greedy vs exact MCLP on the same (small) instance."""
    from geo.coverage.basis import read_basis
    from geo.coverage.placement import build_problem
    from geo.coverage.siting import ExactMCLP, LazyGreedy
    from geo.coverage.units import read_units

    settings = CoverageSettings(_env_file=None, site_azimuths=4, site_spacing_m=80.0)
    with engine.connect() as conn:
        basis = read_basis(conn, window_days=days, area=ServiceAreaSettings())
        region = read_units(conn, "city", basis.proj)["geometry"].iloc[0]
    basis.setup_tiles(region.bounds)
    t = time.perf_counter()
    prob = build_problem(basis, region, weight, settings)
    build = time.perf_counter() - t
    sites = prob.candidates["site"].to_numpy()
    greedy = LazyGreedy(k).fit(prob.A, prob.weights, sites)
    exact = ExactMCLP(k, time_limit).fit(prob.A, prob.weights, sites)

    def share(gain):
        return 100 * (prob.baseline + gain) / prob.total

    return {"candidates": prob.A.shape[0], "demand": prob.A.shape[1], "nnz": int(prob.A.nnz),
            "build_s": build, "baseline": share(0.0),
            "greedy": (share(greedy.objective_), greedy.seconds_),
            "exact": (share(exact.objective_), exact.seconds_, exact.status_, exact.gap_),
            "ratio": greedy.objective_ / exact.objective_ if exact.objective_ else float("nan"),
            "k": k, "weight": weight, "days": days}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from conftest import _server_settings, create_database, drop_database

    server = _server_settings()
    settings = create_database(server, DB_NAME)
    engine = make_engine(settings)
    try:
        counts = load_layers(engine, args.size, args.seed)
        t1, _ = bench_refresh(engine, 1)
        print(f"full refresh, 1 worker: {t1:.1f} s", flush=True)
        t2, report = bench_refresh(engine, 2)
        print(f"full refresh, 2 workers: {t2:.1f} s ({report.summary()})", flush=True)
        edits = bench_edits(settings, args.edits)
        print(f"camera edit: {edits}", flush=True)
    finally:
        engine.dispose()
        drop_database(server, DB_NAME)
    small = create_database(server, SMALL_DB)
    eng = make_engine(small)
    try:
        load_layers(eng, "small", args.seed, skip=())
        bench_refresh(eng, 1)
        sitings = [bench_siting(eng, args.k, args.time_limit, w, d)
                   for w, d in (("incidents", 365), ("area", 90))]
        for siting in sitings:
            print(f"siting: {siting}", flush=True)
    finally:
        eng.dispose()
        drop_database(server, SMALL_DB)
    lines = [
        f"`{args.size}` demo, seed {args.seed}: {counts['cameras']:,} cameras × "
        f"{counts['buildings']:,} buildings; Python {platform.python_version()}, shared 2-core "
        f"machine (load average {os.getloadavg()[0]:.1f} at the end of the run).",
        "",
        "| what | measured | target |",
        "|---|---|---|",
        f"| full refresh, 2 workers (read, views with exact shadows, COPY) | {t2:.1f} s | < 60 s |",
        f"| full refresh, 1 worker | {t1:.1f} s | – |",
        f"| views stored / wholly blocked | {report.views:,} / {report.blocked:,} | – |",
        f"| one camera edited, PUT /api/v1/cameras/{{id}} end to end, median of "
        f"{edits['n']} | {edits['median_ms']:.0f} ms (p95 {edits['p95_ms']:.0f}, max "
        f"{edits['max_ms']:.0f}) | < 100 ms |",
        f"| … of which the view recompute | {edits['view_ms']:.0f} ms | – |",
        "",
        f"Siting on the `small` demo, k = {args.k}, candidates = sites every 80 m along roads "
        "× 4 azimuths, same instance for both solvers (CBC time limit "
        f"{args.time_limit:.0f} s):",
        "",
        "| demand | candidates × demand (nonzeros) | existing | lazy greedy | exact MCLP (CBC) |",
        "|---|---|---|---|---|",
    ]
    for s in sitings:
        g, e = s["greedy"], s["exact"]
        what = (f"incidents, last {s['days']} days" if s["weight"] == "incidents"
                else "public area (10 m lattice)")
        lines.append(
            f"| {what} | {s['candidates']:,} × {s['demand']:,} ({s['nnz']:,}) | "
            f"{s['baseline']:.2f} % | {g[0]:.2f} % in {g[1]:.3f} s "
            f"({100 * s['ratio']:.1f} % of exact) | {e[0]:.2f} % in {e[1]:.1f} s "
            f"({e[2]}, MIP gap {e[3]:.4f}) |")
    print("\n".join(lines))
    if not args.no_write:
        write_results(lines)


if __name__ == "__main__":
    main()

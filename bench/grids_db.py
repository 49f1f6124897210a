"""Grid planning through the database, as a planner runs it on the city demo.

Writes the ``## Grid planning in the database`` section of ``bench/RESULTS.md``.

``bench/grids.py`` times the partition alone; this times what a planner waits
for: a new draft copied from the active plan, redistricting every community
(read, partition, write grids and members, refresh the cached figures), the
evaluation of the whole plan, the diff against the active plan, and publishing
(incidents re-assigned; rolled back, so the bench database stays as it is).
Each step runs ``--runs`` times on a new draft; medians are reported.

Usage: ``python bench/grids_db.py [--size city] [--runs 3]``

``--publish`` times publishing alone (issue 19 point 1) and writes the
``## Publishing a grid plan (<size> demo)`` section: a new draft with one community
redistricted, and an unchanged copy, each published (rolled back) ``--runs``
times; publish touches only the incidents that leave their grid, so this is what
a planner waits for after a local change (target: large demo < 5 s).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _results  # noqa: E402
from _databases import demo_database  # noqa: E402

sys.path.insert(0, str(ROOT))

from geo.db.engine import make_engine  # noqa: E402
from geo.gridplan import edits, plan_views, plans  # noqa: E402
from geo.gridplan.diff import diff_plans  # noqa: E402
from geo.gridplan.parallel import Parallelism, warm_up  # noqa: E402
from geo.gridplan.redistrict import RedistrictParams, redistrict  # noqa: E402
from geo.gridplan.settings import GridPlanSettings  # noqa: E402
from geo.settings import ServiceAreaSettings  # noqa: E402

SECTION = "## Grid planning in the database"
STEPS = (
    "new draft",
    "redistrict all",
    "redistrict all via the API",
    "evaluate",
    "diff",
    "publish (rolled back)",
)
EDITS = 20  # moves of one building to a neighbouring grid per run (issue 19 point 4)
EDIT_PAIRS = """
    SELECT DISTINCT ON (a.id) m.building_id, b.code
      FROM grids a
      JOIN grids b ON b.plan_id = a.plan_id AND b.community_code = a.community_code
                  AND b.id <> a.id AND ST_Touches(a.geom, b.geom)
      JOIN grid_members m ON m.grid_id = a.id
     WHERE a.plan_id = :p AND a.buildings > 1
     ORDER BY a.id, b.id, m.building_id
     LIMIT :n
"""


def api_client(settings):
    """The service's app in-process (routing, auth, validation, JSON), no background warm-ups.

    Entered for the whole bench (left to process exit).
    """
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ApiSettings
    from api.state import AppState

    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=settings))

    @contextlib.asynccontextmanager
    async def no_warm_up(_app):  # the warm-ups (hotspots, response) would share the CPU
        yield

    app.router.lifespan_context = no_warm_up
    client = TestClient(app)
    client.__enter__()  # one event loop for every request (the database pool lives on it)
    return client


def redistrict_via_api(engine, client, active) -> float:
    """Seconds of ``POST /api/v1/grid-plans/{draft}/redistrict`` on a new draft."""
    with engine.begin() as conn:
        draft = plans.create_plan(conn, "bench api", active, "bench")
    try:
        t0 = time.perf_counter()
        r = client.post(f"/api/v1/grid-plans/{draft}/redistrict", json={})
        took = time.perf_counter() - t0
        assert r.status_code == 200, r.text
        return took
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM grid_plans WHERE id = :p"), {"p": draft})


def one_run(engine, client) -> tuple[dict[str, float], dict]:
    """Seconds per step for one draft, and the redistricting report."""
    took: dict[str, float] = {}

    def timed(step, fn):
        t0 = time.perf_counter()
        out = fn()
        took[step] = time.perf_counter() - t0
        return out

    with engine.begin() as conn:
        active = conn.execute(text("SELECT id FROM grid_plans WHERE status = 'active'")).scalar()
        draft = timed("new draft", lambda: plans.create_plan(conn, "bench", active, "bench"))
    try:
        gs = GridPlanSettings()  # as the service reads them: the same workers as the API
        area = ServiceAreaSettings()
        report = timed(
            "redistrict all",
            lambda: redistrict(
                engine,
                draft,
                RedistrictParams.from_settings(gs),
                parallel=Parallelism.from_settings(gs),
                area=area,
            ),
        )
        took["redistrict all via the API"] = redistrict_via_api(engine, client, active)
        timed("evaluate", lambda: plan_views.evaluate_plan(engine, draft, settings=gs, area=area))
        with engine.connect() as conn:
            pairs = conn.execute(text(EDIT_PAIRS), {"p": draft, "n": EDITS}).all()
        for building, code in pairs:
            t0 = time.perf_counter()
            edits.apply_edit(engine, draft, {"op": "move", "buildings": [building],
                                             "to_grid": code}, "bench",
                             settings=GridPlanSettings(), area=ServiceAreaSettings())
            took.setdefault("edits", []).append(time.perf_counter() - t0)
        with engine.connect() as conn:
            timed("diff", lambda: diff_plans(conn, active, draft))
        with engine.connect() as conn:
            tx = conn.begin()
            timed("publish (rolled back)", lambda: plans.publish(conn, draft, "bench"))
            tx.rollback()
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM grid_plans WHERE id = :p"), {"p": draft})
    return took, report


def _kinds(report: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in report["infeasible"]:
        out[d["kind"]] = out.get(d["kind"], 0) + 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="city")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--publish", action="store_true", help="time publishing only")
    args = parser.parse_args()
    db = demo_database(args.size, who="grids_db")
    engine = make_engine(db)
    if args.publish:
        publish_bench(engine, args)
        return
    client = api_client(db)
    warm_up(Parallelism.from_settings(GridPlanSettings()))  # worker processes, once
    with engine.connect() as conn:
        counts = conn.execute(text("""
            SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM incidents),
                   (SELECT count(*) FROM admin_areas WHERE level = 'community')
        """)).one()
    runs, report = [], None
    load = os.getloadavg()[0]
    for i in range(args.runs):
        took, report = one_run(engine, client)
        runs.append(took)
        print(f"run {i + 1}: " + ", ".join(
            f"{k} {v:.2f} s" for k, v in took.items() if k != "edits"), flush=True)
    engine.dispose()
    lines = [
        f"{platform.python_version()}, shared 2-core machine (load average {load:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after); `{args.size}` demo: {counts[0]:,} buildings, "
        f"{counts[2]} communities, {counts[1]:,} incidents; median of {args.runs} runs, each on "
        "a new draft copied from the active plan.",
        "",
        "| step | median seconds | runs |",
        "|---|---|---|",
    ]
    for step in STEPS:
        values = [r[step] for r in runs]
        lines.append(
            f"| {step} | {statistics.median(values):.2f} | "
            + " / ".join(f"{v:.2f}" for v in values)
            + " |"
        )
    moves = sorted(v for r in runs for v in r.get("edits", []))
    if moves:
        p95 = moves[min(len(moves) - 1, math.ceil(0.95 * len(moves)) - 1)]
        lines.append(
            f"| edit: move one building to a neighbouring grid (answer with the touched grids' "
            f"evaluation), {len(moves)} edits | median {statistics.median(moves):.3f}, "
            f"p95 {p95:.3f} (target < 0.2) | max {moves[-1]:.3f} |"
        )
    inproc = statistics.median(r["redistrict all"] for r in runs)
    via_api = statistics.median(r["redistrict all via the API"] for r in runs)
    lines += [
        "",
        f"Redistricting via the API took {via_api / inproc:.2f}× the in-process time (target "
        f"≤ 1.5×; {report['seconds']:.2f} s in the last in-process report, of which "
        f"{report['compute_seconds']:.2f} s districting with {GridPlanSettings().grid_workers} "
        "worker processes, the rest reading and writing the plan).",
        f"Redistricting gave {report['grids']} grids, {report['within_band_share']:.2%} of the "
        f"{report['feasible_grids']} feasible ones within the band; infeasible cases by kind: "
        + ", ".join(f"{k} {v}" for k, v in sorted(_kinds(report).items()))
        + f"; {report['undecided_grids']} grids in {len(report['undecided'])} undecided "
        + ("piece" if len(report["undecided"]) == 1 else "pieces")
        + " (left outside the band by the heuristics, neither solved nor proved infeasible by the "
        "exact searches within their budgets).",
    ]
    print("\n".join(lines))
    if not args.no_write:
        _results.write_section(SECTION, lines)


PUBLISH_SECTION = "## Publishing a grid plan ({size} demo)"
PUBLISH_CASES = ("one community redistricted", "nothing changed")
BUSIEST = """
    SELECT g.community_code FROM grids g JOIN incidents i ON i.grid_id = g.id
     WHERE g.plan_id = :p AND g.community_code IS NOT NULL
     GROUP BY g.community_code ORDER BY count(*) DESC, g.community_code LIMIT 1
"""


def publish_once(engine, case: str) -> dict:
    """One publish of a new draft (rolled back); seconds and the publish report."""
    with engine.begin() as conn:
        active = conn.execute(text("SELECT id FROM grid_plans WHERE status = 'active'")).scalar()
        code = conn.execute(text(BUSIEST), {"p": active}).scalar_one()
        draft = plans.create_plan(conn, "bench publish", active, "bench")
    try:
        if case == "one community redistricted":
            redistrict(engine, draft, RedistrictParams(), communities=[code],
                       area=ServiceAreaSettings())
        with engine.connect() as conn:
            tx = conn.begin()
            t0 = time.perf_counter()
            out = plans.publish(conn, draft, "bench")
            out["seconds"] = time.perf_counter() - t0
            tx.rollback()
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM grid_plans WHERE id = :p"), {"p": draft})
    out["community"] = code
    return out


def publish_bench(engine, args) -> None:
    """Time publishing alone and write its section of bench/RESULTS.md."""
    with engine.connect() as conn:
        counts = conn.execute(text("""
            SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM incidents),
                   (SELECT count(*) FROM grids g JOIN grid_plans p ON p.id = g.plan_id
                     WHERE p.status = 'active')
        """)).one()
    load = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {case: [] for case in PUBLISH_CASES}
    for i in range(args.runs):
        for case in PUBLISH_CASES:
            out = publish_once(engine, case)
            runs[case].append(out)
            print(f"run {i + 1}, {case}: {out['seconds']:.2f} s, "
                  f"{out['incidents_reassigned']:,} incidents written, "
                  f"{out['grids_kept']} grids kept, {out['grids_changed']} changed", flush=True)
    engine.dispose()
    heading = PUBLISH_SECTION.format(size=args.size)
    lines = [
        heading,
        "",
        f"`bench/grids_db.py --publish --size {args.size}`: {platform.python_version()}, shared "
        f"2-core machine (load average {load:.1f} before, {os.getloadavg()[0]:.1f} after); "
        f"{counts[0]:,} buildings, {counts[1]:,} incidents, {counts[2]:,} grids in the active "
        f"plan; median of {args.runs} runs, each on a new draft copied from the active plan, "
        "published and rolled back.",
        "",
        "| draft | publish median s | runs | incidents written | grids kept / changed |",
        "|---|---|---|---|---|",
    ]
    for case in PUBLISH_CASES:
        rs = runs[case]
        secs = [r["seconds"] for r in rs]
        lines.append(
            f"| {case} | {statistics.median(secs):.2f} | "
            + " / ".join(f"{v:.2f}" for v in secs)
            + f" | {rs[0]['incidents_reassigned']:,} | {rs[0]['grids_kept']:,} / "
            f"{rs[0]['grids_changed']:,} |"
        )
    lines += [
        "",
        "The redistricted community is the one with the most incidents "
        f"({runs[PUBLISH_CASES[0]][0]['community']}). "
        "Kept grids (same community and geometry) take the id they had in the active plan and a "
        "changed grid the id of the old grid it shares most buildings with, so only incidents "
        "that leave their grid are written (the publish before issue 19 wrote every incident, "
        "whatever changed: 16.1 s on the city demo).",
    ]
    print("\n".join(lines))
    if not args.no_write:
        _results.write_section(heading, lines)


if __name__ == "__main__":
    main()

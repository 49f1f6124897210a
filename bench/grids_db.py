"""Grid planning through the database, as a planner runs it on the city demo.

Writes the ``## Grid planning in the database`` section of ``bench/RESULTS.md``.

``bench/grids.py`` times the partition alone; this times what a planner waits
for: a new draft copied from the active plan, redistricting every community
(read, partition, write grids and members, refresh the cached figures), the
evaluation of the whole plan, the diff against the active plan, and publishing
(incidents re-assigned; rolled back, so the bench database stays as it is).
Each step runs ``--runs`` times on a new draft; medians are reported.

Usage: ``python bench/grids_db.py [--size city] [--runs 3]``
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text

from geo.gridplan.settings import GridPlanSettings
from geo.settings import ServiceAreaSettings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _results  # noqa: E402
from load import bench_database  # noqa: E402

sys.path.insert(0, str(ROOT))

from geo.db.engine import make_engine  # noqa: E402
from geo.gridplan import edits, plan_views, plans  # noqa: E402
from geo.gridplan.diff import diff_plans  # noqa: E402
from geo.gridplan.redistrict import RedistrictParams, redistrict  # noqa: E402

SECTION = "## Grid planning in the database"
STEPS = ("new draft", "redistrict all", "evaluate", "diff", "publish (rolled back)")
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


def one_run(engine) -> tuple[dict[str, float], dict]:
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
        report = timed("redistrict all", lambda: redistrict(engine, draft, RedistrictParams(),
                                                            area=ServiceAreaSettings()))
        timed("evaluate", lambda: plan_views.evaluate_plan(engine, draft,
                                                           settings=GridPlanSettings(),
                                                           area=ServiceAreaSettings()))
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
    args = parser.parse_args()
    engine = make_engine(bench_database(args.size))
    with engine.connect() as conn:
        counts = conn.execute(text("""
            SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM incidents),
                   (SELECT count(*) FROM admin_areas WHERE level = 'community')
        """)).one()
    runs, report = [], None
    load = os.getloadavg()[0]
    for i in range(args.runs):
        took, report = one_run(engine)
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
    lines += [
        "",
        f"Redistricting gave {report['grids']} grids, {report['within_band_share']:.2%} of the "
        f"{report['feasible_grids']} feasible ones within the band; infeasible cases by kind: "
        + ", ".join(f"{k} {v}" for k, v in sorted(_kinds(report).items()))
        + f"; {report['undecided_grids']} grids in {len(report['undecided'])} undecided pieces "
        "(left outside the band by the heuristics, neither solved nor proved infeasible by the "
        "exact search within its budget).",
    ]
    print("\n".join(lines))
    if not args.no_write:
        _results.write_section(SECTION, lines)


if __name__ == "__main__":
    main()

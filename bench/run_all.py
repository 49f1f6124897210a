"""Run every benchmark in bench/ (each writes its own section of bench/RESULTS.md),
then print the results file.

Usage: ``make bench`` or ``python bench/run_all.py [name ...]`` (e.g. ``tiles hotspots``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["demo", "ingest", "hotspots", "grids", "grids_db", "camera_coverage", "response",
         "tiles", "map", "load", "widget", "cases", "batch"]


def main(argv: list[str]) -> int:
    """Run the chosen (default: all) benchmarks in a sensible order."""
    names = argv or [n for n in ORDER if (HERE / f"{n}.py").exists()]
    failed = []
    for name in names:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"bench: no such benchmark {name}", file=sys.stderr)
            return 2
        print(f"== bench/{name}.py", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"== bench/{name}.py finished in {time.perf_counter() - t0:.0f} s (exit {rc})")
        if rc:
            failed.append(name)
    results = HERE / "RESULTS.md"
    if results.exists():
        print(results.read_text())
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

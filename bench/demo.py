"""Demo-city benchmark: generation time per size and generate+load time into a fresh DB.

Writes the ``## Demo city`` section of ``bench/RESULTS.md``.

Usage::

    python bench/demo.py [--sizes small city large] [--load small city] [--no-write]

Loads run in their own database (``onemap_bench_demo`` on the embedded cluster),
recreated per size and dropped afterwards.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _results  # noqa: E402

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from geo.db.engine import make_engine  # noqa: E402
from geo.demo import DemoSettings, generate, load_demo  # noqa: E402

SECTION = "## Demo city"
DB_NAME = "onemap_bench_demo"


def write_results(lines: list[str]) -> None:
    """Replace (or append) this script's section of bench/RESULTS.md."""
    _results.write_section(SECTION, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["small", "city", "large"])
    parser.add_argument("--load", nargs="*", default=["small", "city"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from conftest import _server_settings, create_database, drop_database

    rows = ["| size | buildings | grids | cameras | incidents | clusters verified | "
            "generate s | generate+load s |", "|---|---|---|---|---|---|---|---|"]
    for size in args.sizes:
        t = time.perf_counter()
        city = generate(size, args.seed)
        gen = time.perf_counter() - t
        loaded = "–"
        if size in args.load:
            server = _server_settings()
            settings = create_database(server, DB_NAME)
            eng = make_engine(settings)
            try:
                t = time.perf_counter()
                load_demo(eng, size, args.seed, progress=False, data_dir=ROOT / "bench" / ".work",
                          settings=DemoSettings.from_env())
                loaded = f"{time.perf_counter() - t:.0f}"
            finally:
                eng.dispose()
                drop_database(server, DB_NAME)
        c = city.truth["counts"]
        ok = sum(x["verified"] for x in city.truth["hotspots"]["clusters"])
        n = len(city.truth["hotspots"]["clusters"])
        rows.append(f"| {size} | {c['buildings']:,} | {c['grids']:,} | {c['cameras']:,} | "
                    f"{c['incidents']:,} | {ok}/{n} | {gen:.1f} | {loaded} |")
        print(rows[-1], flush=True)
    lines = [f"Seed {args.seed}, {platform.python_version()}, shared 2-core machine. "
             "generate = pure generation (numpy/shapely, calibrated clusters, truth); "
             "generate+load = `load_demo` into an empty migrated database.", "", *rows]
    if not args.no_write:
        write_results(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

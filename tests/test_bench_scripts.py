"""Every benchmark script at least imports: `make bench` must not die on a moved helper
(bench/grids_db.py once imported a function that had moved to bench/_databases.py).

Each runs as `python bench/NAME.py` would, with bench/ first on the path: a script named
like a package that a dependency imports shadows it (bench/coverage.py once broke numba,
which imports ``coverage`` when it is there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHECK = """
import runpy, sys, traceback
sys.path.insert(0, sys.argv[1])
failed = []
for path in sys.argv[2:]:
    try:
        runpy.run_path(path, run_name="bench_import_check")
    except BaseException:
        failed.append(path + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_bench_script_imports():
    scripts = sorted(str(p) for p in (ROOT / "bench").glob("*.py"))
    assert len(scripts) >= 10
    out = subprocess.run([sys.executable, "-c", _CHECK, str(ROOT / "bench"), *scripts], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr

"""No module of the product (geo/, api/, tiles/) grows past 600 lines.

A module that long mixes jobs; split it by concern (as ``api/map/i18n.py`` was split into
``i18n_panels.py`` and ``i18n_topics.py``) before adding to it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("geo", "api", "tiles")
LIMIT = 600


def modules() -> list[Path]:
    """Every Python file of the product (not installed front-end packages)."""
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
                  if "node_modules" not in path.parts)


def test_the_packages_hold_the_modules_checked():
    found = {path.relative_to(ROOT).as_posix() for path in modules()}
    assert {"geo/layers.py", "api/app.py", "tiles/render.py", "api/map/i18n.py"} <= found
    assert len(found) > 100


def test_no_module_is_over_600_lines():
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in modules()}
    over = {name: n for name, n in sizes.items() if n > LIMIT}
    assert not over, f"modules over {LIMIT} lines (split them by concern): {over}"

"""What runs is what was locked: Python packages against requirements.lock, npm assets
against api/map/package-lock.json.

A fresh ``make setup`` installs the lock with ``pip --require-hashes``; these tests fail when
the environment the suite runs in drifted from it (a package installed or upgraded by hand),
or when pyproject.toml names a dependency the lock does not hold (the lock is stale: run
``make lock``).
"""

from __future__ import annotations

import json
import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
MAP = ROOT / "api" / "map"

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._\-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    return {_norm(n): v for n, v in _PIN.findall(LOCK.read_text(encoding="utf-8"))}


def _installed() -> dict[str, str]:
    return {_norm(d.metadata["Name"]): d.version for d in metadata.distributions()}


def test_every_locked_package_is_installed_at_its_locked_version():
    locked, installed = _locked(), _installed()
    assert len(locked) > 50, "the lock looks empty"
    drift = {n: (v, installed.get(n)) for n, v in locked.items() if installed.get(n) != v}
    assert not drift, f"installed differs from requirements.lock (locked, installed): {drift}"


def test_every_lock_entry_is_pinned_with_hashes():
    text = LOCK.read_text(encoding="utf-8")
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    for entry in entries:
        if not entry.strip() or entry.startswith("#"):
            continue
        assert _PIN.match(entry), f"not an exact pin: {entry.splitlines()[0]}"
        assert "--hash=sha256:" in entry, f"no hash for {entry.splitlines()[0]}"


def test_pyproject_dependencies_are_all_in_the_lock():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"])
    for extra in ("dev", "bench"):
        wanted += project["optional-dependencies"][extra]
    locked = _locked()
    missing, outside = [], []
    for spec in wanted:
        req = Requirement(spec)
        version = locked.get(_norm(req.name))
        if version is None:
            missing.append(req.name)
        elif not req.specifier.contains(version, prereleases=True):
            outside.append(f"{req.name} {version} not in {req.specifier}")
    assert not missing, f"pyproject dependencies missing from requirements.lock: {missing}"
    assert not outside, f"locked versions outside pyproject's ranges: {outside}"


def test_the_lock_installs_in_hash_checking_mode():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "--require-hashes" in makefile and "$(LOCK)" in makefile


def test_npm_assets_are_pinned_and_installed_from_the_lock():
    package = json.loads((MAP / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((MAP / "package-lock.json").read_text(encoding="utf-8"))
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned exactly: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    for path, entry in lock["packages"].items():
        if not path:
            continue
        assert entry.get("integrity", "").startswith("sha"), f"{path} has no integrity hash"
        installed = MAP / path / "package.json"
        assert installed.exists(), f"{path} is locked but not installed (run make setup)"
        got = json.loads(installed.read_text(encoding="utf-8"))["version"]
        assert got == entry["version"], f"{path}: installed {got}, locked {entry['version']}"
    assert "npm ci" in (ROOT / "scripts" / "install-assets.sh").read_text(encoding="utf-8")

"""The configuration reference: generated from the settings classes, complete, current.

* README's "Configuration" section is what ``onemap config reference`` writes now.
* Every ``ONEMAP_*`` name the sources mention (``geo/ api/ tiles/ scripts/ Makefile``,
  ``os.environ`` reads included) is a variable of the reference, so a variable read
  outside a settings class fails here until it joins one.
* Every field of every settings class has a description and a default, and every settings
  class is in the reference; secrets show no default.
* ``ONEMAP_LOCAL_TIMEZONE`` is the one zone setting: every class that needs the zone reads
  it, through one field and one check.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from api import config_reference as ref

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("geo", "api", "tiles", "scripts", "Makefile")
SKIP_DIRS = {"vendor", "node_modules", "__pycache__"}
NAME = re.compile(r"ONEMAP_[A-Z0-9_]+")


def settings_classes() -> set[type[BaseSettings]]:
    """Every BaseSettings subclass defined in a ``settings`` module of geo/, api/, tiles/."""
    found = set()
    for package in ("geo", "api", "tiles"):
        for path in (ROOT / package).rglob("settings.py"):
            module = import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
            for obj in vars(module).values():
                if (isinstance(obj, type) and issubclass(obj, BaseSettings)
                        and obj.__module__ == module.__name__):
                    found.add(obj)
    return found


def _files(root: Path, names: tuple[str, ...]):
    for name in names:
        path = root / name
        if path.is_file():
            yield path
            continue
        for f in sorted(path.rglob("*")):
            if f.is_file() and not SKIP_DIRS & set(f.relative_to(root).parts):
                yield f


def unknown_names(root: Path, names: tuple[str, ...], known: set[str]) -> dict[str, str]:
    """``{name: file}`` of the ``ONEMAP_*`` names in the files that are not variables.

    A name ending in ``_`` (``ONEMAP_GRID_*`` in prose) is a prefix: some variable must
    start with it.
    """
    out = {}
    for f in _files(root, names):
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for name in set(NAME.findall(text)):
            ok = (any(k.startswith(name) for k in known) if name.endswith("_")
                  else name in known)
            if not ok:
                out[name] = str(f.relative_to(root))
    return out


def test_readme_section_is_what_the_generator_writes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ref.section(readme) == ref.markdown(), (
        "README's configuration reference is stale: run `make config-reference`")


def test_a_hand_edit_of_the_section_is_caught():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    edited = readme.replace("| `ONEMAP_HOTSPOT_RES` | int (≥ 6, ≤ 12) | `9` |",
                            "| `ONEMAP_HOTSPOT_RES` | int (≥ 6, ≤ 12) | `8` |")
    assert edited != readme
    assert ref.section(edited) != ref.markdown()
    assert ref.section(ref.rewrite(edited)) == ref.markdown()
    assert ref.rewrite(readme) == readme


def test_every_name_in_the_sources_is_in_the_reference():
    from geo.settings_base import RENAMED

    known = set(ref.all_variables()) | set(RENAMED)  # old names, named to be reported
    assert unknown_names(ROOT, SCANNED, known) == {}


def test_a_variable_read_outside_the_settings_is_found(tmp_path):
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "x.py").write_text(
        'import os\nos.environ.get("ONEMAP_NOT_A_SETTING")\n# ``ONEMAP_HOTSPOT_*``\n')
    (tmp_path / "Makefile").write_text("run:\n\tONEMAP_API_PORT=1 onemap serve\n")
    assert unknown_names(tmp_path, ("geo", "Makefile"), set(ref.all_variables())) == {
        "ONEMAP_NOT_A_SETTING": "geo/x.py"}


ENV_READ = re.compile(r"os\.getenv\(|os\.environ\.get\(|os\.environ\[[^\]]+\](?!\s*=[^=])")


def env_reads(root: Path, names: tuple[str, ...]) -> list[str]:
    """``file:line`` of every read of one environment variable outside the settings classes."""
    out = []
    for f in _files(root, names):
        if f.suffix != ".py":
            continue
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if ENV_READ.search(line):
                out.append(f"{f.relative_to(root)}:{i}")
    return out


def test_no_variable_is_read_outside_the_settings_classes(tmp_path):
    assert env_reads(ROOT, ("geo", "api", "tiles")) == []
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "x.py").write_text(
        'import os\nos.environ["ONEMAP_API_HOST"] = "h"\na = os.getenv("ONEMAP_API_PORT")\n'
        'b = os.environ["ONEMAP_PG_DIR"]\nc = os.environ.get("ONEMAP_PG_DIR") == "x"\n')
    assert env_reads(tmp_path, ("geo",)) == ["geo/x.py:3", "geo/x.py:4", "geo/x.py:5"]


SETTINGS_CLASS = re.compile(r"^class (\w+)\([^)]*(?:BaseSettings|\w+Settings)[^)]*\):", re.M)


def test_every_settings_class_is_in_the_reference():
    listed = {ref.settings_class(target) for _, target in ref.SECTIONS}
    assert settings_classes() <= listed
    assert len(listed) == len(ref.SECTIONS)
    # a settings class in any module, not only in a settings.py
    declared = {name for f in _files(ROOT, ("geo", "api", "tiles")) if f.suffix == ".py"
                for name in SETTINGS_CLASS.findall(f.read_text(encoding="utf-8"))}
    assert len(declared) >= len(listed)
    assert declared <= {cls.__name__ for cls in listed}


@pytest.mark.parametrize("target", [t for _, t in ref.SECTIONS])
def test_every_field_has_a_description_and_a_default(target):
    cls = ref.settings_class(target)
    for name, info in cls.model_fields.items():
        assert info.description and len(info.description.split()) >= 3, f"{target}.{name}"
        assert not info.is_required(), f"{target}.{name} has no default"


def test_each_variable_is_read_by_one_field():
    names = [v.name for _, target in ref.SECTIONS
             for v in ref.variables(ref.settings_class(target))]
    shared = {n for n in names if names.count(n) > 1}
    assert shared == {"ONEMAP_LOCAL_TIMEZONE"}
    assert all(re.fullmatch(r"ONEMAP_[A-Z0-9]+_[A-Z0-9_]+", n) for n in names)


def test_secrets_show_no_default():
    variables = ref.all_variables()
    assert variables["ONEMAP_DATABASE_URL"].secret
    row = next(line for line in ref.markdown().splitlines()
               if line.startswith("| `ONEMAP_DATABASE_URL` |"))
    assert "secret, no default shown" in row and "`unset`" not in row
    for v in variables.values():
        if re.search(r"SECRET|PASSWORD|KEY\b|TOKEN|DATABASE_URL", v.name):
            assert v.secret, v.name


def test_one_time_zone_setting(monkeypatch):
    from geo.cases.settings import CaseSettings
    from geo.hotspots.settings import HotspotSettings
    from geo.io.settings import IngestSettings
    from geo.settings import LocalTimeSettings
    from tiles.settings import TileSettings

    monkeypatch.setenv("ONEMAP_LOCAL_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("ONEMAP_HOTSPOT_LOCAL_TIMEZONE", "UTC")  # not a variable
    assert HotspotSettings(_env_file=None).timezone == "Europe/Paris"
    assert CaseSettings(_env_file=None).timezone == "Europe/Paris"
    assert TileSettings(_env_file=None).tile_timezone == "Europe/Paris"
    assert IngestSettings(_env_file=None).local_timezone == "Europe/Paris"
    monkeypatch.setenv("ONEMAP_LOCAL_TIMEZONE", "Mars/Olympus")
    for cls in (LocalTimeSettings, HotspotSettings, CaseSettings, TileSettings, IngestSettings):
        with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
            cls(_env_file=None)


def test_renamed_variables_are_read(monkeypatch):
    from api.settings import ApiSettings
    from geo.io.settings import IngestSettings
    from geo.settings import DatabaseSettings, ServiceAreaSettings

    monkeypatch.setenv("ONEMAP_API_PORT", "8123")
    monkeypatch.setenv("ONEMAP_MAP_LANGUAGE", "en")
    monkeypatch.setenv("ONEMAP_WIDGET_MIN_COUNT", "9")
    monkeypatch.setenv("ONEMAP_DB_HANG_PROBE_S", "1.5")
    monkeypatch.setenv("ONEMAP_AREA_BBOX", "[116, 39, 117, 40]")
    monkeypatch.setenv("ONEMAP_INGEST_BULK_MIN_ROWS", "7")
    monkeypatch.setenv("ONEMAP_PG_BINDIR", "/opt/pg/bin")
    api = ApiSettings(_env_file=None)
    assert (api.port, api.language, api.widget_min_count) == (8123, "en", 9)
    db = DatabaseSettings(_env_file=None)
    assert (db.hang_probe_s, str(db.pg_bindir)) == (1.5, "/opt/pg/bin")
    assert ServiceAreaSettings(_env_file=None).service_bbox == (116, 39, 117, 40)
    assert IngestSettings(_env_file=None).bulk_min_rows == 7
    # the fields' own names still work as keywords
    assert ApiSettings(_env_file=None, widget_min_count=3).widget_min_count == 3


def test_every_renamed_variable_points_at_a_variable_that_is_read():
    from geo.settings_base import RENAMED

    section = ref.section((ROOT / "README.md").read_text(encoding="utf-8"))
    listed = set(re.findall(r"`(ONEMAP_[A-Z0-9_]+)`", section))
    assert set(RENAMED.values()) <= listed
    assert not set(RENAMED) & listed


def test_an_old_variable_name_is_reported_by_the_command_line():
    env = dict(os.environ, ONEMAP_HOST="0.0.0.0", ONEMAP_LANGUAGE="en")
    r = subprocess.run([sys.executable, "-m", "api.cli", "config", "reference"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ONEMAP_HOST is no longer read: set ONEMAP_API_HOST instead" in r.stderr
    assert "ONEMAP_LANGUAGE is no longer read: set ONEMAP_MAP_LANGUAGE instead" in r.stderr

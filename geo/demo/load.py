"""Load a generated demo city into the database and write its ground truth."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, text

from geo.coverage.settings import CoverageSettings
from geo.demo.city import DemoCity, generate
from geo.demo.truth import write_truth
from geo.errors import Conflict
from geo.io.settings import IngestSettings
from geo.response.settings import ResponseSettings
from geo.settings import ServiceAreaSettings

#: Tables emptied by ``replace`` (keys and the audit log stay).
DATA_TABLES = ("plan_edits", "coverage_gaps", "camera_views", "incidents", "grid_members",
               "grids", "grid_plans", "buildings", "cameras", "roads", "waterways", "places",
               "admin_areas", "posts", "response_edges", "response_network",
               "response_areas")
PLAN_NAME = "现状网格"


@dataclass(frozen=True)
class DemoSettings:
    """The settings a demo load passes on to the loader and the derived tables."""

    ingest: IngestSettings
    area: ServiceAreaSettings
    coverage: CoverageSettings
    response: ResponseSettings

    @classmethod
    def from_env(cls) -> DemoSettings:
        """Each settings class read from the environment (what the CLI and tests use)."""
        return cls(IngestSettings(), ServiceAreaSettings(), CoverageSettings(),
                   ResponseSettings())


@dataclass
class DemoLoad:
    """What :func:`load_demo` did."""

    city: DemoCity | None
    truth_path: Path | None
    reports: list = field(default_factory=list)
    skipped: bool = False
    derived: list[str] = field(default_factory=list)


def has_data(engine: Engine) -> bool:
    """True when any demo layer already holds rows."""
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT EXISTS (SELECT 1 FROM buildings) OR EXISTS (SELECT 1 FROM admin_areas) "
            "OR EXISTS (SELECT 1 FROM incidents) OR EXISTS (SELECT 1 FROM cameras)")).scalar())


def has_buildings(engine: Engine) -> bool:
    """True when the buildings table holds rows."""
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM buildings)")).scalar())


def empty_tables(engine: Engine) -> None:
    """Empty every data table (ids restart at 1); API keys and the audit log are kept."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))


def _ensure_plan(engine: Engine) -> None:
    """Create the active "现状网格" plan the demo grids go into (when none is active)."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO grid_plans (name, status, author, note, published_at) "
            "SELECT :name, 'active', 'demo', 'existing grids of the demo city', now() "
            "WHERE NOT EXISTS (SELECT 1 FROM grid_plans WHERE status = 'active')"),
            {"name": PLAN_NAME})


def load_demo(engine: Engine, size: str = "city", seed: int = 42, *, settings: DemoSettings,
              data_dir: Path, replace: bool = False, if_empty: bool = False,
              end: date | None = None, progress: bool = True, console=None) -> DemoLoad:
    """Generate the demo city, load every layer and write ``data/demo/<size>/ground_truth.json``.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        A migrated database.
    size, seed, end
        As for :func:`geo.demo.generate`.
    replace : bool
        Empty the data tables first.
    if_empty : bool
        Do nothing when buildings already exist.
    progress : bool
        Show progress (rich).
    settings : DemoSettings
        Ingest, service-area, coverage and response settings.
    data_dir : Path
        Where ``demo/<size>/ground_truth.json`` goes (the CLI gives ``ONEMAP_DATA_DIR``).
    console : rich.console.Console, optional
        Where progress lines go.

    Raises
    ------
    geo.errors.Conflict
        The database already holds data and neither ``replace`` nor ``if_empty`` was given.
    """
    from geo.io.load import load_frame

    if if_empty and has_buildings(engine):
        return DemoLoad(None, None, skipped=True)
    if replace:
        empty_tables(engine)
    elif has_data(engine):
        raise Conflict("the database already holds data; use --replace to empty it first "
                       "or --if-empty to keep it")
    city = generate(size, seed, end, progress=progress)
    out = DemoLoad(city, None)
    _ensure_plan(engine)
    for name, frame in city.layers():
        if console is not None and progress:
            console.print(f"demo: loading {name} ({len(frame):,} rows)")
        out.reports.append(load_frame(engine, name, frame, progress=progress,
                                      label=name.rstrip("s"), area=settings.area,
                                      settings=settings.ingest))
    out.derived = derive_tables(engine, settings.coverage, settings.area, progress=progress,
                                console=console)
    from geo.response.store import refresh_areas

    if console is not None and progress:
        console.print("demo: response areas")
    refresh_areas(engine, settings.response, settings.area)
    out.truth_path = write_truth(city.truth, data_dir)
    return out


def derive_tables(engine: Engine, coverage: CoverageSettings, area: ServiceAreaSettings, *,
                  progress: bool = False, console=None) -> list[str]:
    """Compute what the service derives from the loaded layers, so the first map is complete.

    ``load_frame`` leaves camera views to bulk callers; the demo computes them once
    for every camera (progress bar), then stores the gaps of the default window,
    written after every layer so the service reads them as current.

    Returns
    -------
    list of str
        One line per derived table, for the CLI.
    """
    from geo.coverage.gapstore import refresh_gaps
    from geo.coverage.views import refresh_all

    lines = []
    if console is not None and progress:
        console.print("demo: computing camera views")
    views = refresh_all(engine, coverage, area, progress=progress)
    lines.append(f"camera views: {views.summary()}")
    t0 = time.perf_counter()
    if console is not None and progress:
        with console.status("demo: finding coverage gaps"):
            n = refresh_gaps(engine, coverage, area)
    else:
        n = refresh_gaps(engine, coverage, area)
    lines.append(f"coverage gaps: {n} stored in {time.perf_counter() - t0:.2f} s")
    return lines

"""Load files and frames into PostGIS: validate, stage, insert, all in one transaction.

A load is all-or-nothing: the first bad row stops it with one clear message and
nothing is written. With ``reject_file`` the bad rows go to that file (their
original columns plus ``reason``) and the good rows load.

Examples
--------
>>> report = LoadReport("cameras", read=3, inserted=2, rejected=1)
>>> report.summary()
'cameras: read 3, inserted 2, updated 0, skipped 0, rejected 1, repaired 0'
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from h3.api import basic_int as h3i
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DataError, IntegrityError

from geo.crs import parse_crs, to_wgs84
from geo.errors import InvalidInput, InvalidRows
from geo.h3cells import exact_cells
from geo.io import membership
from geo.io.area import service_area_bbox
from geo.io.read import read_frame, strip_z
from geo.io.settings import IngestSettings
from geo.io.stage import copy_stage, insert_staged
from geo.io.validate import validate_frame
from geo.io.write import write_frame
from geo.layers import LayerSpec, get_layer
from geo.options import option
from geo.settings import ServiceAreaSettings

ON_CONFLICT = ("skip", "update")


@dataclass
class LoadReport:
    """What a load did."""

    layer: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    repaired: int = 0
    messages: list[str] = field(default_factory=list)
    reject_file: Path | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    changed_ids: list[int] = field(default_factory=list, repr=False)
    changed_bounds: tuple[float, float, float, float] | None = field(default=None, repr=False)

    def summary(self) -> str:
        """One line: the counts (and where rejects went)."""
        line = (f"{self.layer}: read {self.read}, inserted {self.inserted}, "
                f"updated {self.updated}, skipped {self.skipped}, rejected {self.rejected}, "
                f"repaired {self.repaired}")
        if self.reject_file is not None and self.rejected:
            line += f" (rejects in {self.reject_file})"
        if self.seconds:
            line += f" in {self.seconds:.1f} s"
        return line


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int):
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(TextColumn("{task.description:<10}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=False)
            self.bar.start()
        self.total = total
        self.task = None

    def step(self, name: str, total: int | None = None) -> None:
        if self.bar is None:
            return
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[self.task].total)
        self.task = self.bar.add_task(name, total=total if total is not None else 1)

    def advance(self, n: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task, n)

    def close(self) -> None:
        if self.bar is not None:
            if self.task is not None:
                self.bar.update(self.task, completed=self.bar.tasks[self.task].total)
            self.bar.stop()


class _Clock:
    """Seconds per phase, written into a dict."""

    def __init__(self, into: dict[str, float]):
        self.into = into
        self.t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.into[name] = self.into.get(name, 0.0) + now - self.t
        self.t = now


def h3_cells(frame: gpd.GeoDataFrame, res: int) -> np.ndarray:
    """H3 cell (as int64) of each point at resolution ``res``."""
    x = frame.geometry.x.to_numpy()
    y = frame.geometry.y.to_numpy()
    cells = [h3i.latlng_to_cell(b, a, res) for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    return np.asarray(cells, dtype=np.uint64).astype(np.int64)


def _database_error(exc: Exception, layer: str) -> InvalidRows:
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    primary = getattr(diag, "message_primary", None) or str(orig).splitlines()[0]
    detail = getattr(diag, "message_detail", None) or ""
    where = f" (constraint {name})" if name else ""
    return InvalidRows(f"{layer}: the database refused the rows{where}: {primary} {detail}".strip())


def write_rejects(rejects: pd.DataFrame, source: gpd.GeoDataFrame | None, path: Path,
                  settings: IngestSettings) -> None:
    """Write the rejected rows (original columns + ``reason``) to ``path``."""
    rows = source.loc[rejects.index] if source is not None else rejects.drop(columns="reason")
    fmt = Path(path).suffix.lower()
    out = pd.DataFrame(rows).copy()
    out["reason"] = rejects["reason"].to_numpy()
    attrs = source.attrs if source is not None else {}
    if fmt in (".csv", ".tsv") and ("xy_columns" in attrs or "wkt_column" in attrs):
        geom = source.geometry.name
        out = out.drop(columns=[geom])
        if "wkt_column" in attrs:
            out = out.rename(columns={"_wkt": attrs["wkt_column"]})
        out.to_csv(path, index=False, sep="\t" if fmt == ".tsv" else ",")
        return
    if "_wkt" in out.columns:
        out = out.drop(columns="_wkt")
    crs = source.crs if source is not None else 4326
    geom = source.geometry.name if source is not None else "geometry"
    write_frame(gpd.GeoDataFrame(out, geometry=geom, crs=crs), path, tz=settings.local_timezone)


@contextmanager
def _transaction(engine: Engine, layer: str):
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL statement_timeout = 0"))
            # An acknowledged load must survive a crash, whatever the server's default.
            conn.execute(text("SET LOCAL synchronous_commit = on"))
            yield conn
    except (IntegrityError, DataError) as exc:
        raise _database_error(exc, layer) from None
    except Exception as exc:
        import psycopg

        if isinstance(exc, psycopg.errors.IntegrityError | psycopg.errors.DataError):
            raise _database_error(exc, layer) from None
        raise


def load_frame(
    engine: Engine,
    layer: str,
    frame: gpd.GeoDataFrame,
    *,
    on_conflict: str = "skip",
    reject_file: Path | None = None,
    allow_outside: bool = False,
    progress: bool = True,
    area: ServiceAreaSettings,
    source_frame: gpd.GeoDataFrame | None = None,
    label: str = "row",
    settings: IngestSettings,
    actor: str | None = None,
) -> LoadReport:
    """Validate ``frame`` and write it into ``layer`` in one transaction.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    layer : str
        Layer name; ``grids`` go into the active plan (created as 导入网格 when
        there is none) unless the frame has a ``plan_id`` column.
    frame : geopandas.GeoDataFrame
        Rows in EPSG:4326 with canonical column names.
    on_conflict : {"skip", "update"}
        What to do with rows whose natural key already exists.
    reject_file : Path, optional
        Write bad rows here and load the rest; without it a bad row stops the load.
    allow_outside : bool
        Accept points far outside the service area.
    progress : bool
        Show a progress bar for frames over ``progress_min_rows`` rows.
    area : ServiceAreaSettings
        Service-area settings.
    source_frame : geopandas.GeoDataFrame, optional
        The rows as read (original CRS and values), for the reject file.
    label : str
        What rows are called in messages.
    settings : IngestSettings
        Ingest settings.
    actor : str, optional
        Who loads, written with every case change to ``incident_history``.

    Returns
    -------
    LoadReport
    """
    started = time.perf_counter()
    spec = get_layer(layer)
    if on_conflict not in ON_CONFLICT:
        raise InvalidInput(f"{option('on_conflict')} must be one of {', '.join(ON_CONFLICT)}, "
                           f"not {on_conflict!r}")
    if frame.empty:
        raise InvalidInput(f"{layer}: no rows to load (the file has no features)")
    report = LoadReport(layer, read=len(frame), reject_file=reject_file)
    bar = _Progress(progress and len(frame) > settings.progress_min_rows, len(frame))
    clock = _Clock(report.timings)
    try:
        bar.step("validate")
        bbox = service_area_bbox(engine, area)
        clean, rejects = validate_frame(layer, frame, area_bbox=bbox, allow_outside=allow_outside,
                                        label=label, settings=settings)
        clock.lap("validate")
        _handle_rejects(report, rejects, source_frame, reject_file, settings, label)
        report.repaired = clean.attrs.get("repaired", 0)
        report.messages.extend(clean.attrs.get("messages", []))
        if spec.hooks.in_grids and not clean.empty:
            exact = exact_cells(clean.geometry.x, clean.geometry.y)
            for name, cells in exact.items():
                clean[name] = cells
            finest = f"h3_{area.incident_h3_res}"
            clean["h3"] = exact[finest] if finest in exact else h3_cells(
                clean, area.incident_h3_res)
            clock.lap("h3")
        if not clean.empty:
            _write(engine, spec, clean, on_conflict, report, bar, settings, clock, actor)
    finally:
        bar.close()
    report.skipped = len(clean) - report.inserted - report.updated
    report.seconds = time.perf_counter() - started
    return report


def _handle_rejects(report: LoadReport, rejects: pd.DataFrame, source, reject_file,
                    settings: IngestSettings, label: str) -> None:
    report.rejected = len(rejects)
    if rejects.empty and reject_file is None:
        return
    if reject_file is None:
        first = rejects["reason"].iloc[0]
        more = f" (and {len(rejects) - 1} more bad {label}s)" if len(rejects) > 1 else ""
        hint = (f"nothing loaded — fix the file or pass {option('reject_file')} to load the "
                "good rows"
                if label == "row" else "nothing written")
        raise InvalidRows(f"{report.layer}: {first}{more}; {hint}")
    write_rejects(rejects, source, Path(reject_file), settings)
    if len(rejects):
        report.messages.append(f"{len(rejects)} rejected rows written to {reject_file}")


def _write(engine: Engine, spec, clean: gpd.GeoDataFrame, on_conflict: str, report: LoadReport,
           bar: _Progress, settings: IngestSettings, clock: _Clock,
           actor: str | None = None) -> None:
    with _transaction(engine, spec.name) as conn:
        if actor:  # read by the case-history trigger (revision 0008)
            conn.execute(text("SELECT set_config('onemap.actor', :a, true)"), {"a": actor})
        plan = _target_plan(conn, spec)
        if spec.hooks.in_grids and plan is not None:
            grid = membership.grid_of_points(conn, plan, clean.geometry.x.to_numpy(),
                                             clean.geometry.y.to_numpy())
            clean["grid_id"] = pd.array(np.where(grid < 0, None, grid), dtype="Int64")
            clock.lap("grid join")
        bar.step("copy", len(clean))
        staged = copy_stage(conn, spec, clean, chunk_rows=settings.copy_chunk_rows,
                            on_chunk=bar.advance)
        clock.lap("copy")
        bar.step("insert")
        report.inserted, report.updated = insert_staged(
            conn, spec, staged, update=on_conflict == "update", plan_id=plan,
            bulk_rows=settings.bulk_min_rows,
        )
        clock.lap("insert")
        _after_load(conn, spec, clean, plan, report)
        if spec.hooks.changes == "ids" and report.inserted + report.updated:
            # Rows written by this transaction carry its now() (insert default, update SET).
            report.changed_ids = conn.execute(
                text(f"SELECT id FROM {spec.name} WHERE updated_at = now()")).scalars().all()
        if spec.hooks.changes == "bounds" and report.inserted + report.updated:
            report.changed_bounds = tuple(float(v) for v in clean.total_bounds)
    clock.lap("memberships+commit")


def _target_plan(conn: Connection, spec: LayerSpec) -> int | None:
    if spec.hooks.per_plan:
        return membership.ensure_active_plan(conn)
    if spec.hooks.in_grids:
        return membership.active_plan(conn)
    return None


def _after_load(conn: Connection, spec: LayerSpec, clean: gpd.GeoDataFrame, plan: int | None,
                report: LoadReport) -> None:
    """Keep grid memberships and incident grids current."""
    if spec.hooks.members == "plans":
        plans = {plan}
        if "plan_id" in clean.columns:
            plans |= {int(p) for p in clean["plan_id"].dropna().unique()}
        active = membership.active_plan(conn)
        for p in sorted(x for x in plans if x is not None):
            added = membership.fill_members(conn, p)
            if added:
                report.messages.append(f"plan {p}: {added} buildings assigned to grids")
            if p == active:
                moved = membership.assign_incident_grids(conn, p)
                if moved:
                    report.messages.append(f"plan {p}: {moved} incidents assigned to grids")
    elif spec.hooks.members == "active":
        active = membership.active_plan(conn)
        if active is not None:
            added = membership.fill_members(conn, active)
            if added:
                report.messages.append(f"plan {active}: {added} buildings assigned to grids")


def load_file(
    engine: Engine,
    layer: str,
    path: str | Path,
    *,
    crs: str | None = None,
    mapping: dict[str, str] | None = None,
    on_conflict: str = "skip",
    reject_file: Path | None = None,
    allow_outside: bool = False,
    progress: bool = True,
    encoding: str | None = None,
    area: ServiceAreaSettings,
    settings: IngestSettings,
) -> LoadReport:
    """Read ``path``, convert it to WGS84 and load it into ``layer``.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    layer : str
        Layer name.
    path : path-like
        The file (format from its suffix).
    crs : str, optional
        The file's CRS: an EPSG code, ``gcj02`` or ``bd09`` (overrides what the
        file declares).
    mapping : dict, optional
        Source column → canonical column.
    on_conflict, reject_file, allow_outside, progress, area, settings
        As for :func:`load_frame`.
    encoding : str, optional
        Text encoding of CSV files (UTF-8 by default).
    """
    spec = get_layer(layer)
    source_crs = parse_crs(crs)
    path = Path(path)
    if reject_file is not None and Path(reject_file).resolve() == path.resolve():
        raise InvalidInput(f"{option('reject_file')} must not be the input file")
    started = time.perf_counter()
    raw = strip_z(read_frame(path, mapping=mapping, layer=spec, encoding=encoding))
    if raw.empty:
        raise InvalidInput(f"{path.name}: no rows to load (the file has no features)")
    frame = to_wgs84(raw, source_crs)
    report = load_frame(engine, layer, frame, on_conflict=on_conflict, reject_file=reject_file,
                        allow_outside=allow_outside, progress=progress, area=area,
                        source_frame=raw, settings=settings, actor=f"load {path.name}")
    report.seconds = time.perf_counter() - started
    report.timings = {"read+crs": report.seconds - sum(report.timings.values()),
                      **report.timings}
    return report

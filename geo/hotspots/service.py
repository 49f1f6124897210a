"""Hotspot analyses against the database, with in-process caches.

Caches (per engine, per process): a snapshot of the incidents' columns, study
areas and their weights (per resolution, bbox and data versions; weights per
cell set), and whole results keyed by the query and the data versions they were
computed from — so a repeated query answers from memory and any change to
incidents or admin areas invalidates it. Every cache computes a missing entry
once however many requests ask for it at the same time.

Freshness: an answer uses one snapshot, whose version it echoes as
``data_version``. When the incidents changed, the snapshot is refreshed in the
background (only the new rows after an ingest) and, meanwhile, the previous
snapshot keeps answering as long as it was known current less than
``ONEMAP_HOTSPOT_MAX_STALE_S`` seconds ago; beyond that, or with ``fresh``,
the request waits for the refresh.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from geo.errors import InvalidInput, NotEnoughData
from geo.hotspots import aggregate as A
from geo.hotspots.cache import Gate, Lru
from geo.hotspots.cells import polyfill
from geo.hotspots.params import Filters
from geo.hotspots.settings import HotspotSettings
from geo.hotspots.snapshot import IncidentColumns, to_us
from geo.hotspots.study import Study, check_size, clip_to_bbox, extent_area, with_incident_cells
from geo.settings import ServiceAreaSettings

log = logging.getLogger(__name__)

HEAT_SOURCE_RES = 11
# Studies up to this many cells get their k = 2 and 3 weights built in the background.
PREBUILD_MAX_CELLS = 60_000


@dataclass(frozen=True)
class DataState:
    """Versions of the layers an answer depends on, and what it reads.

    ``rows`` is the estimated row count; ``cols`` the incidents snapshot the answer
    reads (None on the SQL path). Only the versions take part in equality.
    """

    incidents: int
    admin_areas: int
    rows: float = field(compare=False)
    cols: IncidentColumns | None = field(default=None, compare=False, repr=False)


class HotspotService:
    """Entry point of the hotspot analyses for one database.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    settings : HotspotSettings, optional
    area : ServiceAreaSettings, optional
    """

    def __init__(self, engine: Engine, settings: HotspotSettings | None = None,
                 area: ServiceAreaSettings | None = None):
        self.engine = engine
        self.settings = settings or HotspotSettings()
        self.area_settings = area or ServiceAreaSettings()
        self._columns: IncidentColumns | None = None
        self._verified = 0.0  # time.monotonic() the snapshot was last known current
        self._columns_lock = threading.Lock()
        self._refreshing: threading.Thread | None = None
        self._loads = Lru(0)  # single flight of snapshot reads
        self.gate = Gate(self.settings.max_concurrent)
        self._areas = Lru(4)
        self._filled = Lru(16)
        self._incident_cells = Lru(8)
        self._studies = Lru(16)
        self._study_by_cells = Lru(16)
        self._index = Lru(4)
        self._last_index: dict = {}  # newest cell index per (lineage, res, study)
        self._counts = Lru(2)
        self.results = Lru(self.settings.cache_entries)

    # -- warm-up ------------------------------------------------------------------

    def warm_up(self, res: int | None = None, stop: threading.Event | None = None
                ) -> Study | None:
        """Load what a first answer at ``res`` (default resolution) needs, now.

        The incidents' snapshot, the whole area's study cells and every
        incident's row in it, their k-ring weights (k = 1..3 for studies up to
        ``PREBUILD_MAX_CELLS`` cells, else the default k), the pre-serialised
        feature heads and the content codecs. Once ``stop`` is set, returns None
        after the step under way.
        """
        from geo.codings import CODINGS, available, compress

        stop = stop or threading.Event()
        st = self.state()
        if stop.is_set():
            return None
        study = self.study(res or self.settings.res, None, st)
        steps = [lambda: self.counts(study, Filters(), st)]  # places every incident
        ks = (1, 2, 3) if len(study) <= PREBUILD_MAX_CELLS else (self.settings.k,)
        steps += [lambda k=k: study.weights(k) for k in ks] + [study.heads]
        steps += [lambda c=c: compress(b"{}", c) for c in CODINGS if available(c)]
        for step in steps:
            if stop.is_set():
                return None
            step()
        return study

    def start_warm_up(self) -> WarmUp:
        """``warm_up()`` in a background thread (nothing when ``warm_up`` is off).

        Failures (no database yet, no incidents, an area too large for the default
        resolution) are logged, not raised: the requests that follow report them.
        """
        warm = WarmUp()
        if not self.settings.warm_up:
            return warm

        def run():
            started = time.monotonic()
            try:
                study = self.warm_up(stop=warm.stopping)
            except Exception as exc:  # noqa: BLE001 - a warm-up never fails the app
                log.info("hotspot warm-up skipped: %s", exc)
                return
            if study is not None:
                log.info("hotspot warm-up: %d cells at res %d in %.1f s", len(study), study.res,
                         time.monotonic() - started)

        warm.thread = threading.Thread(target=run, daemon=True, name="onemap-hotspot-warm-up")
        warm.thread.start()
        return warm

    # -- data state and sources -------------------------------------------------

    def state(self, fresh: bool = False) -> DataState:
        """The data an answer uses.

        Current layer versions (one small query) and, on the in-memory path, the
        incidents snapshot (possibly a little stale, see the module docstring;
        never with ``fresh``).
        """
        asked = time.monotonic()
        with self.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT (SELECT version FROM layer_versions WHERE layer = 'incidents'), "
                "       (SELECT version FROM layer_versions WHERE layer = 'admin_areas'), "
                "       (SELECT reltuples FROM pg_class WHERE oid = 'incidents'::regclass)"
            )).one()
        st = DataState(int(row[0] or 0), int(row[1] or 0), float(row[2] or 0))
        if self.settings.memory_rows <= 0 or self._row_count(st) > self.settings.memory_rows:
            return st
        cols = self.snapshot(st.incidents, asked, fresh)
        return DataState(cols.version, st.admin_areas, st.rows, cols)

    def columns(self, st: DataState) -> IncidentColumns | None:
        """The in-memory columns the state reads, or None when the table is too big."""
        return st.cols

    def snapshot(self, version: int, asked: float, fresh: bool = False) -> IncidentColumns:
        """A snapshot holding incidents-layer ``version`` (read at ``asked``).

        Or the previous one, while it was known current less than ``max_stale_s``
        before ``asked`` (a background refresh is then started).
        """
        with self._columns_lock:
            cols = self._columns
            if cols is not None and cols.version >= version:
                self._verified = max(self._verified, asked)
                return cols
            max_stale = 0.0 if fresh else self.settings.max_stale_s
            if cols is not None and asked - self._verified <= max_stale:
                self._refresh_in_background()
                return cols
        while True:  # wait for a snapshot at least as new as the version asked for
            cols = self._loads.get("load", self._load)
            if cols.version >= version:
                return cols

    def refresh(self) -> IncidentColumns:
        """Bring the snapshot up to the database now (tests, CLI)."""
        return self.snapshot(self.state_versions()[0], time.monotonic(), fresh=True)

    def state_versions(self) -> tuple[int, int]:
        """(incidents, admin_areas) versions in the database."""
        with self.engine.connect() as conn:
            v = conn.execute(text(
                "SELECT (SELECT version FROM layer_versions WHERE layer = 'incidents'), "
                "       (SELECT version FROM layer_versions WHERE layer = 'admin_areas')")).one()
        return int(v[0] or 0), int(v[1] or 0)

    def _load(self) -> IncidentColumns:
        """Read the snapshot (only the new rows when the table only grew) and publish it."""
        cols = IncidentColumns.load(self.engine, self._columns)
        with self._columns_lock:
            if self._columns is None or cols.version >= self._columns.version:
                self._columns = cols
                self._verified = max(self._verified, cols.loaded_at)
            return self._columns

    def _refresh_in_background(self) -> None:
        """Start one background refresh unless one is running (caller holds the lock)."""
        if self._refreshing is not None and self._refreshing.is_alive():
            return

        def run():
            try:
                self._loads.get("load", self._load)
            except Exception:  # the next request retries (and reports) in the foreground
                pass

        self._refreshing = threading.Thread(target=run, daemon=True,
                                            name="onemap-hotspot-refresh")
        self._refreshing.start()

    def _row_count(self, st: DataState) -> float:
        """Planner's row estimate; an exact count when the table was never analysed."""
        if st.rows >= 0:
            return st.rows

        def make():
            with self.engine.connect() as conn:
                return float(conn.execute(text("SELECT count(*) FROM incidents")).scalar())

        return self._counts.get(st.incidents, make)

    def area(self, st: DataState):
        """(geometry, source label) of the study area."""
        def make():
            # One transaction per table: holding admin_areas while waiting for incidents
            # would deadlock with a TRUNCATE that locks them in the other order.
            with self.engine.connect() as conn:
                geom, level = A.admin_area(conn)
            if geom is not None:
                return geom, f"admin_areas:{level}"
            with self.engine.connect() as conn:
                extent = A.incident_extent(conn)
            if extent is None:
                raise NotEnoughData("there are no incidents and no admin areas to analyse")
            return extent_area(extent, self.settings.area_buffer_m), "incident_extent"

        return self._areas.get(self._area_key(st), make)

    @staticmethod
    def _area_key(st: DataState) -> tuple:
        """The area follows admin areas, or the incidents when there are none."""
        return (st.admin_areas,) if st.admin_areas > 1 else (st.admin_areas, st.incidents)

    def incident_cells(self, res: int, st: DataState) -> np.ndarray:
        """Cells at ``res`` holding any incident."""
        def make():
            cols = self.columns(st)
            if cols is not None:
                return cols.distinct_cells(res)
            with self.engine.connect() as conn:
                return A.incident_cells(conn, res)

        return self._incident_cells.get((res, st.incidents), make)

    def study(self, res: int, bbox: tuple | None, st: DataState) -> Study:
        """The study cells for a resolution and bbox at the current data versions.

        With a bbox, the whole area's study is sliced when it is within the size
        limit; otherwise only the clipped area is filled.
        """
        def make():
            if bbox is None:
                return self._fill(res, None, st)
            try:
                whole = self.study(res, None, st)
            except InvalidInput:
                return self._fill(res, bbox, st)
            return _enough(whole.subset(bbox), res, bbox)

        return self._studies.get((res, bbox, st.admin_areas, st.incidents), make)

    def _fill(self, res: int, bbox: tuple | None, st: DataState) -> Study:
        """Polyfill the (clipped) area and add the incidents' cells."""
        geom, source = self.area(st)

        def fill():
            clipped = clip_to_bbox(geom, bbox)
            check_size(clipped, res, self.settings.max_cells)
            return polyfill(clipped, res)

        filled = self._filled.get((res, bbox, self._area_key(st)), fill)
        cells = with_incident_cells(filled, self.incident_cells(res, st), bbox)
        fresh = _enough(Study(res, cells, source), res, bbox)
        study = self._study_by_cells.get((res, fresh.key), lambda: fresh)
        if study is fresh and len(study) <= PREBUILD_MAX_CELLS:
            threading.Thread(target=_prebuild, args=(study,), daemon=True,
                             name="onemap-hotspot-weights").start()
        return study

    # -- counting ---------------------------------------------------------------

    def counts(self, study: Study, f: Filters, st: DataState) -> np.ndarray:
        """Incidents per study cell (zeros included) for the filters."""
        cols = self.columns(st)
        if cols is None:
            with self.engine.connect() as conn:
                cells, n = A.counts_by_cell(conn, study.res, f)
            rows = study.index_of(cells)
            return np.bincount(rows[rows >= 0], weights=n[rows >= 0],
                               minlength=len(study)).astype(np.int64)
        idx = self._cell_index(cols, study)  # len(study) marks incidents outside the study
        m = cols.mask(f)
        sel = idx if m is None else idx[m]
        return np.bincount(sel, minlength=len(study) + 1)[: len(study)].astype(np.int64)

    def cube(self, study: Study, f: Filters, edges: list, st: DataState) -> np.ndarray:
        """Incidents per study cell and time step, (n, T)."""
        steps = len(edges) - 1
        cols = self.columns(st)
        if cols is None:
            with self.engine.connect() as conn:
                cells, step, n = A.counts_by_cell_step(conn, study.res, edges, f)
            rows = study.index_of(cells)
            ok = rows >= 0
            flat = rows[ok] * steps + step[ok]
            return np.bincount(flat, weights=n[ok], minlength=len(study) * steps
                               ).reshape(len(study), steps).astype(np.int64)
        idx = self._cell_index(cols, study)
        step = np.searchsorted(np.array([to_us(e) for e in edges]), cols.t_us, side="right") - 1
        ok = (idx < len(study)) & (step >= 0) & (step < steps)
        m = cols.mask(f)
        if m is not None:
            ok &= m
        flat = idx[ok].astype(np.int64) * steps + step[ok]
        return np.bincount(flat, minlength=len(study) * steps).reshape(len(study), steps)

    def fine_counts(self, f: Filters, bbox: tuple | None, st: DataState,
                    res: int = HEAT_SOURCE_RES):
        """Incidents per cell at ``res`` (heatmap input, res 11), optionally in a bbox."""
        cols = self.columns(st)
        if cols is None:
            with self.engine.connect() as conn:
                cells, n = A.counts_by_cell(conn, res, f)
        else:
            m = cols.mask(f)
            h = cols.at(res) if m is None else cols.at(res)[m]
            cells, n = np.unique(h, return_counts=True)
        if bbox is not None and len(cells):
            from geo.hotspots.cells import in_bbox

            keep = in_bbox(cells, bbox)
            cells, n = cells[keep], n[keep]
        return cells, n

    def _cell_index(self, cols: IncidentColumns, study: Study) -> np.ndarray:
        """Study row of every incident (``len(study)``: outside it).

        A bbox study maps its parent's rows; after an incremental refresh only the
        new rows are placed.
        """
        def make():
            if study.parent is not None:
                to_sub = np.full(len(study.parent) + 1, len(study), dtype=np.int32)
                to_sub[study.parent_rows] = np.arange(len(study), dtype=np.int32)
                return to_sub[self._cell_index(cols, study.parent)]
            with self._columns_lock:
                prev = self._last_index.get((id(cols.lineage), study.res, study.key))
            if prev is not None and prev[0] is cols.lineage and len(prev[1]) <= len(cols):
                head = prev[1]
                tail = IncidentColumns(cols.version, cols.cells[len(head):], cols.t_us[:0],
                                       cols.category[:0], cols.source[:0])
                idx = np.concatenate([head, tail.cell_index(study.res, study.cells)])
            else:
                idx = cols.cell_index(study.res, study.cells)
            with self._columns_lock:
                if len(self._last_index) > 16:
                    self._last_index.clear()
                self._last_index[(id(cols.lineage), study.res, study.key)] = (cols.lineage, idx)
            return idx

        return self._index.get((cols.version, study.res, study.key), make)

    def require(self, total: int, what: str = "this window and filter") -> None:
        """Refuse to compute statistics on too few incidents."""
        need = self.settings.min_incidents
        if total == 0:
            raise NotEnoughData(f"no incidents match {what}")
        if total < need:
            raise NotEnoughData(f"only {total} incidents match {what}; hotspot statistics "
                                f"need at least {need} (ONEMAP_HOTSPOT_MIN_INCIDENTS)")

    def time_range(self, f: Filters, st: DataState):
        """First and last matching incident."""
        cols = self.columns(st)
        if cols is not None:
            return cols.time_range(f)
        with self.engine.connect() as conn:
            return A.time_range(conn, f)


@dataclass
class WarmUp:
    """A background warm-up: its thread (None when off) and the flag that stops it."""

    thread: threading.Thread | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    async def stop(self) -> None:
        """Stop after the step under way and wait for the thread (app shutdown)."""
        import asyncio

        self.stopping.set()
        if self.thread is not None:
            await asyncio.to_thread(self.thread.join)


def _prebuild(study: Study) -> None:
    """Build the k = 1, 2, 3 weights of a new study ahead of the requests that need them.

    A failure here is only logged: the request that needs the weights builds them
    itself and reports the problem.
    """
    try:
        for k in (1, 2, 3):
            study.weights(k)
    except Exception as exc:  # noqa: BLE001 - a background prebuild never raises
        log.warning("hotspot weights prebuild at res %d failed: %s", study.res, exc)


def _enough(study: Study, res: int, bbox: tuple | None) -> Study:
    """The study, unless it has too few cells for Gi*."""
    if len(study) < 3:
        where = "the bbox" if bbox else "the service area"
        raise NotEnoughData(f"{where} holds {len(study)} cells at res {res}; "
                            "use a larger bbox or a finer res")
    return study


_SERVICES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SERVICES_LOCK = threading.Lock()


def service_for(engine: Engine, settings: HotspotSettings | None = None) -> HotspotService:
    """The service (and its caches) of an engine, created on first use."""
    with _SERVICES_LOCK:
        svc = _SERVICES.get(engine)
        if svc is None:
            svc = _SERVICES[engine] = HotspotService(engine, settings)
        return svc


def hotspot_cells(engine: Engine, params=None, fresh: bool = True, **query) -> pd.DataFrame:
    """Gi* per cell as a DataFrame (h3 str, count, gi_z, p_value, bin, class); cached.

    ``params`` is a ``HotspotQuery``; or give raw values as keywords
    (``res``, ``k``, ``alpha``, ``from_``, ``to``, ``category``, ``source``, ``bbox``).
    ``fresh`` (default): read the incidents as they are now; False accepts a snapshot
    up to ``ONEMAP_HOTSPOT_MAX_STALE_S`` old, as the HTTP API does.
    """
    from geo.hotspots import analyses
    from geo.hotspots.params import hotspot_query

    svc = service_for(engine)
    q = params or hotspot_query(svc.settings, **query)
    return analyses.hotspots(svc, q, fresh).frame()


def emerging_cells(engine: Engine, params=None, **query) -> pd.DataFrame:
    """Emerging categories per cell as a DataFrame (h3 str, category, trend_z, trend_p, …)."""
    from geo.hotspots import analyses
    from geo.hotspots.params import emerging_query

    svc = service_for(engine)
    q = params or emerging_query(svc.settings, **query)
    return analyses.emerging(svc, q).frame()

"""Which incidents an answer reads: the data state, and the snapshot kept fresh enough.

An answer uses one snapshot of the incidents' columns, whose version it echoes as
``data_version``. When the incidents changed, the snapshot is refreshed in the
background (only the new rows after an ingest) and, meanwhile, the previous
snapshot keeps answering as long as it was known current less than
``ONEMAP_HOTSPOT_MAX_STALE_S`` seconds ago; beyond that, or with ``fresh``, the
caller waits for the refresh. Tables over ``ONEMAP_HOTSPOT_MEMORY_ROWS`` rows get
no snapshot: their answers count in SQL (``geo.hotspots.counting``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from geo.hotspots.cache import Lru
from geo.hotspots.settings import HotspotSettings
from geo.hotspots.snapshot import IncidentColumns

_VERSIONS_SQL = text(
    "SELECT (SELECT version FROM layer_versions WHERE layer = 'incidents'), "
    "       (SELECT version FROM layer_versions WHERE layer = 'admin_areas'), "
    "       (SELECT reltuples FROM pg_class WHERE oid = 'incidents'::regclass)")


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


class SnapshotKeeper:
    """The incidents snapshot of one database, refreshed when the incidents change.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    settings : HotspotSettings
        ``memory_rows`` (largest table held in memory) and ``max_stale_s``.
    """

    def __init__(self, engine: Engine, settings: HotspotSettings):
        self.engine = engine
        self.settings = settings
        self.columns: IncidentColumns | None = None  # the newest snapshot
        self._verified = 0.0  # time.monotonic() the snapshot was last known current
        self._lock = threading.Lock()
        self._refreshing: threading.Thread | None = None
        self.loads = Lru(0)  # single flight of snapshot reads
        self._counts = Lru(2)

    def state(self, fresh: bool = False) -> DataState:
        """The data an answer uses.

        Current layer versions (one small query) and, when the table is small
        enough for memory, the incidents snapshot (possibly a little stale, see the
        module docstring; never with ``fresh``).
        """
        asked = time.monotonic()
        with self.engine.connect() as conn:
            row = conn.execute(_VERSIONS_SQL).one()
        st = DataState(int(row[0] or 0), int(row[1] or 0), float(row[2] or 0))
        if self.settings.memory_rows <= 0 or self._row_count(st) > self.settings.memory_rows:
            return st
        cols = self.snapshot(st.incidents, asked, fresh)
        return DataState(cols.version, st.admin_areas, st.rows, cols)

    def snapshot(self, version: int, asked: float, fresh: bool = False) -> IncidentColumns:
        """A snapshot holding incidents-layer ``version`` (read at ``asked``).

        Or the previous one, while it was known current less than ``max_stale_s``
        before ``asked`` (a background refresh is then started).
        """
        with self._lock:
            cols = self.columns
            if cols is not None and cols.version >= version:
                self._verified = max(self._verified, asked)
                return cols
            max_stale = 0.0 if fresh else self.settings.max_stale_s
            if cols is not None and asked - self._verified <= max_stale:
                self._refresh_in_background()
                return cols
        while True:  # wait for a snapshot at least as new as the version asked for
            cols = self.loads.get("load", self._load)
            if cols.version >= version:
                return cols

    def _load(self) -> IncidentColumns:
        """Read the snapshot (only the new rows when the table only grew) and publish it."""
        cols = IncidentColumns.load(self.engine, self.columns)
        with self._lock:
            if self.columns is None or cols.version >= self.columns.version:
                self.columns = cols
                self._verified = max(self._verified, cols.loaded_at)
            return self.columns

    def _refresh_in_background(self) -> None:
        """Start one background refresh unless one is running (caller holds the lock)."""
        if self._refreshing is not None and self._refreshing.is_alive():
            return

        def run():
            try:
                self.loads.get("load", self._load)
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

"""The incidents' analysis columns held in memory (cells, time, category, source).

The cells are the exact ``latlng_to_cell`` of each incident at every offered
resolution (columns ``h3_6`` … ``h3_12``, see :mod:`geo.h3cells`), never one
derived from another. Read with one binary ``COPY`` (about 122 bytes a row) inside a repeatable-read
transaction together with the incidents-layer version, so the snapshot and its
version always agree. After an ingest only the new rows are read (ids above the
snapshot's largest) when nothing was rewritten or deleted since (the
``incident_rewrites`` counter of revision 0005) and the row count adds up;
anything else is a full read. Filtering and counting are then numpy
masks and ``bincount``: tens of milliseconds for a million incidents, against
hundreds for a ``GROUP BY`` over the table. Used when the table holds at most
``ONEMAP_HOTSPOT_MEMORY_ROWS`` rows; otherwise the SQL path answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Engine

from geo.h3cells import COLUMNS, RESOLUTIONS
from geo.hotspots.params import CATEGORIES, SOURCES, Filters

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_HEADER, _TRAILER = 19, 2
_ROW = np.dtype([("nf", ">i2"), *((f, t) for c in COLUMNS for f, t in (("l" + c, ">i4"),
                                                                       (c, ">i8"))),
                 ("l2", ">i4"), ("t", ">i8"),
                 ("l3", ">i4"), ("cat", ">i2"), ("l4", ">i4"), ("src", ">i2")])


# Version, table identity, rewrite counter (revision 0005) and largest id, in one snapshot.
_STATE_SQL = ("SELECT (SELECT version FROM layer_versions WHERE layer = 'incidents'), "
              "'incidents'::regclass::oid::bigint, "
              "(SELECT n FROM incident_rewrites), (SELECT max(id) FROM incidents)")


def _copy(cur, since: int | None) -> bytearray:
    """Binary COPY of the analysed columns (of rows with id > ``since`` when given)."""
    where = "" if since is None else f" WHERE id > {int(since)}"
    sql = (f"COPY (SELECT {', '.join(COLUMNS)}, occurred_at, {_code_sql('category', CATEGORIES)}, "
           f"{_code_sql('source', SOURCES)} FROM incidents{where}) TO STDOUT (FORMAT binary)")
    buf = bytearray()
    with cur.copy(sql) as copy:
        for block in copy:
            buf += block
    return buf


def _rows(buf: bytearray) -> np.ndarray:
    """The COPY rows as a structured array."""
    if len(buf) < _HEADER + _TRAILER:
        return np.zeros(0, dtype=_ROW)
    return np.frombuffer(bytes(buf), dtype=_ROW, offset=_HEADER,
                         count=(len(buf) - _HEADER - _TRAILER) // _ROW.itemsize)


def _code_sql(column: str, values: tuple[str, ...]) -> str:
    """``CASE`` mapping our own constant names to small integers (no user input)."""
    whens = " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(values))
    return f"(CASE {column} {whens} ELSE -1 END)::int2"


def _lookup(names: tuple[str, ...], chosen: tuple[str, ...]) -> np.ndarray:
    """Boolean table indexed by code (code −1, unknown, maps to the last slot: False)."""
    table = np.zeros(len(names) + 1, dtype=bool)
    table[[names.index(c) for c in chosen]] = True
    return table


def to_us(t: datetime) -> int:
    """Aware datetime → microseconds since 2000-01-01 UTC (PostgreSQL's epoch)."""
    return (t - PG_EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    """Inverse of ``to_us``."""
    return PG_EPOCH + timedelta(microseconds=int(us))


@dataclass
class IncidentColumns:
    """Columns of every incident at one layer version."""

    version: int
    cells: np.ndarray    # int64 (n, 7): the exact cell at res 6 … 12 (RESOLUTIONS)
    t_us: np.ndarray     # int64, occurred_at in µs since 2000-01-01 UTC
    category: np.ndarray  # int8 index into CATEGORIES
    source: np.ndarray   # int8 index into SOURCES

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def h3(self) -> np.ndarray:
        """The res-12 cell of every incident."""
        return self.cells[:, -1]

    def at(self, res: int) -> np.ndarray:
        """The exact cell of every incident at ``res``."""
        return self.cells[:, RESOLUTIONS.index(res)]

    max_id: int = 0       # largest incident id in the snapshot
    marker: tuple = ()    # (table oid, incident_rewrites.n) it was read at
    loaded_at: float = 0.0  # time.monotonic() when its read began
    # Snapshots of one lineage share their leading rows (each appends to the last).
    lineage: object = field(default_factory=object, compare=False, repr=False)

    @classmethod
    def load(cls, engine: Engine, base: IncidentColumns | None = None) -> IncidentColumns:
        """Read the columns and their version consistently.

        With a ``base`` snapshot, when the table has only grown since (same table,
        no rewriting statement, and the row count adds up), only the rows with an
        id above the base's are read and appended; otherwise everything is read.
        """
        loaded_at = time.monotonic()
        raw = engine.raw_connection()
        try:
            pg = raw.driver_connection
            with pg.transaction(), pg.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute(_STATE_SQL)
                version, oid, rewrites, max_id = cur.fetchone()
                version, marker, max_id = int(version or 0), (oid, rewrites), int(max_id or 0)
                grew = (base is not None and base.marker == marker and rewrites is not None
                        and max_id >= base.max_id)
                count = cur.execute("SELECT count(*) FROM incidents").fetchone()[0] if grew else 0
                since = base.max_id if grew else None
                rows = _rows(_copy(cur, since))
        finally:
            raw.close()
        cells = np.empty((len(rows), len(COLUMNS)), dtype=np.int64)
        for j, c in enumerate(COLUMNS):
            cells[:, j] = rows[c]
        cols = cls(version, cells, rows["t"].astype(np.int64),
                   rows["cat"].astype(np.int8), rows["src"].astype(np.int8),
                   max_id, marker, loaded_at)
        if not grew:
            return cols
        if len(base) + len(cols) != count:  # a lower id committed late: read everything
            return cls.load(engine)
        return cls(version, *(np.concatenate([getattr(base, a), getattr(cols, a)])
                              for a in ("cells", "t_us", "category", "source")),
                   max_id, marker, loaded_at, base.lineage)

    def mask(self, f: Filters) -> np.ndarray | None:
        """Rows passing the filters (None = all rows)."""
        parts = []
        if f.t0 is not None:
            parts.append(self.t_us >= to_us(f.t0))
        if f.t1 is not None:
            parts.append(self.t_us < to_us(f.t1))
        if f.categories:
            parts.append(np.take(_lookup(CATEGORIES, f.categories), self.category))
        if f.sources:
            parts.append(np.take(_lookup(SOURCES, f.sources), self.source))
        if not parts:
            return None
        m = parts[0]
        for p in parts[1:]:
            m &= p
        return m

    def cell_index(self, res: int, cells: np.ndarray) -> np.ndarray:
        """Row of each incident's cell at ``res`` in sorted ``cells`` (``len(cells)``: absent)."""
        n = len(cells)
        p = self.at(res)
        if n == 0:
            return np.zeros(len(p), np.int32)
        pos = np.searchsorted(cells, p)
        pos[pos == n] = 0
        return np.where(cells[pos] == p, pos, n).astype(np.int32)

    def distinct_cells(self, res: int) -> np.ndarray:
        """Sorted cells at ``res`` holding at least one incident."""
        return np.unique(self.at(res))

    def time_range(self, f: Filters) -> tuple[datetime | None, datetime | None]:
        """First and last occurrence among filtered incidents."""
        m = self.mask(f)
        t = self.t_us if m is None else self.t_us[m]
        if t.size == 0:
            return None, None
        return from_us(t.min()), from_us(t.max())

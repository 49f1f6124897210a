"""The cases held in memory: one row per incident, with its units and case-flow times.

Read with one CSV ``COPY`` (times as integer microseconds since the Unix epoch) and
kept until the incidents, grids or admin areas change (their ``layer_versions``).
Every figure is then numpy masks and ``bincount`` over these arrays.

A case belongs to the grid it was assigned at load (the active plan), that grid's
community, the community's street and the street's district; a case outside every
grid counts for the city only.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.csv as pa_csv
from sqlalchemy import Engine, text

from geo.cases.settings import CaseSettings
from geo.errors import InvalidInput
from geo.vocabulary import CATEGORIES, SOURCES, UNIT_LEVELS

LEVELS = UNIT_LEVELS
GROUPS = ("department", "category", "source")
STATUSES = ("received", "dispatched", "resolved", "closed")
SATISFACTION = ("satisfied", "basic", "unsatisfied")
NAT = np.iinfo(np.int64).min  # "no time"
RATED, GOOD, REOPENED, FROM_110 = 0, 1, 2, 3  # bits of Cases.static_flags

_VERSIONS = text("SELECT layer, version FROM layer_versions "
                 "WHERE layer IN ('incidents', 'grids', 'admin_areas') ORDER BY layer")
_TIMES = ("occurred_at", "due_at", "dispatched_at", "resolved_at", "closed_at")
_CASES_SQL = f"""
    SELECT i.id, i.external_id, i.source, i.category, i.subcategory, i.status, i.department,
           i.satisfaction, i.reopened, i.routed_from,
           {', '.join(f"(extract(epoch FROM i.{t}) * 1000000)::bigint AS {t}" for t in _TIMES)},
           ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
           g.code AS grid, c.code AS community, s.code AS street, d.code AS district
    FROM incidents AS i
    LEFT JOIN grids AS g ON g.id = i.grid_id
    LEFT JOIN admin_areas AS c ON c.code = g.community_code AND c.level = 'community'
    LEFT JOIN admin_areas AS s ON s.code = c.parent_code AND s.level = 'street'
    LEFT JOIN admin_areas AS d ON d.code = s.parent_code AND d.level = 'district'
    ORDER BY i.id
"""
_UNITS_SQL = text("""
    SELECT level, code, coalesce(name, code) AS name FROM admin_areas
    UNION ALL
    SELECT 'grid', g.code, coalesce(g.name, g.code)
    FROM grids AS g JOIN grid_plans AS p ON p.id = g.plan_id WHERE p.status = 'active'
    ORDER BY 1, 2
""")


def check_level(level: str) -> str:
    """``level`` when it is one of :data:`LEVELS`, else InvalidInput."""
    if level not in LEVELS:
        raise InvalidInput(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    return level


def check_group(by: str | None) -> str | None:
    """``by`` when it is None or one of :data:`GROUPS`, else InvalidInput."""
    if by not in (None, "", *GROUPS):
        raise InvalidInput(f"unknown group {by!r}; use one of {', '.join(GROUPS)}")
    return by or None


@dataclass
class Cases:
    """Column arrays of every case (times: µs since 1970-01-01 UTC, :data:`NAT` = none)."""

    frame: pd.DataFrame
    units: dict[str, pd.DataFrame]  # level → code, name (every unit of the level)
    hours: dict[str, float]
    unit_codes: dict[str, np.ndarray] = field(default_factory=dict)  # level → index per case
    limit: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    done_time: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self):
        f = self.frame
        cat_hours = f["category"].map(self.hours).astype("float64").to_numpy()
        occurred = f["occurred_at"].to_numpy()
        due = f["due_at"].to_numpy()
        self.limit = np.where(due != NAT, due, occurred + np.round(cat_hours * 3.6e9)
                              .astype(np.int64))
        resolved, closed = f["resolved_at"].to_numpy(), f["closed_at"].to_numpy()
        self.done_time = np.where(resolved != NAT, resolved, closed)
        status = f["status"].to_numpy()
        self.done_status = (status == "resolved") | (status == "closed")
        sat = f["satisfaction"].to_numpy()
        self.rated = sat != None  # noqa: E711
        self.good = (sat == "satisfied") | (sat == "basic")
        self.from_110 = f["routed_from"].to_numpy() == "110"
        self.reopened_any = f["reopened"].to_numpy() > 0
        self._codes: dict[str, tuple[np.ndarray, list]] = {}
        self.static_flags = (self.rated.view(np.uint8) << RATED | self.good.view(np.uint8) << GOOD
                             | self.reopened_any.view(np.uint8) << REOPENED
                             | self.from_110.view(np.uint8) << FROM_110)
        known = self.done_time != NAT
        occurred_us = f["occurred_at"].to_numpy()
        self.hours = np.where(known, (self.done_time - occurred_us) / 3.6e9, np.nan)
        self.hours_order = np.argsort(self.hours, kind="stable")  # NaN last
        for level in LEVELS[1:]:
            table = self.units[level]
            index = pd.Index(table["code"])
            self.unit_codes[level] = index.get_indexer(f[level].astype(object))
        self.unit_codes["city"] = np.zeros(len(f), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.frame)

    def codes(self, column: str) -> tuple[np.ndarray, list]:
        """Integer codes of a text column (−1: empty) and the sorted labels they index."""
        if column not in self._codes:
            codes, labels = pd.factorize(self.frame[column], sort=True, use_na_sentinel=True)
            self._codes[column] = (codes.astype(np.int64), [str(x) for x in labels])
        return self._codes[column]


def read_cases(engine: Engine, settings: CaseSettings | None = None) -> Cases:
    """Every case with its units, read from the database."""
    settings = settings or CaseSettings()
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        buf = io.BytesIO()
        with raw.cursor() as cur, cur.copy(
                f"COPY ({_CASES_SQL}) TO STDOUT (FORMAT csv, HEADER)") as copy:
            for block in copy:
                buf.write(block)
        units = pd.DataFrame(conn.execute(_UNITS_SQL).all(), columns=["level", "code", "name"])
    buf.seek(0)
    text_cols = ["external_id", "source", "category", "subcategory", "status", "department",
                 "satisfaction", "routed_from", "grid", "community", "street", "district"]
    import pyarrow as pa

    types = {c: pa.string() for c in text_cols}
    types.update({t: pa.int64() for t in _TIMES})
    types.update({"id": pa.int64(), "reopened": pa.int64(), "lon": pa.float64(),
                  "lat": pa.float64()})
    table = pa_csv.read_csv(buf, convert_options=pa_csv.ConvertOptions(
        column_types=types, strings_can_be_null=True))
    frame = table.to_pandas()
    for t in _TIMES:
        frame[t] = frame[t].fillna(NAT).astype(np.int64)
    for c in text_cols:  # nulls as None (numpy comparisons with None are exact)
        col = frame[c].astype(object)
        frame[c] = col.where(col.notna(), None)
    per_level = {lv: units[units["level"] == lv][["code", "name"]].reset_index(drop=True)
                 for lv in LEVELS[1:]}
    return Cases(frame, per_level, settings.hours())


def sync_limits(engine: Engine, hours: dict[str, float]) -> None:
    """Make ``case_limits`` (read by the ``case_warnings`` view) equal the settings."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO case_limits (category, hours) VALUES (:c, :h) ON CONFLICT (category) "
            "DO UPDATE SET hours = EXCLUDED.hours WHERE case_limits.hours <> EXCLUDED.hours"),
            [{"c": c, "h": h} for c, h in hours.items()])


class CaseCache:
    """The last :class:`Cases` read, kept while the data versions stay the same."""

    def __init__(self, settings: CaseSettings | None = None):
        self.settings = settings or CaseSettings()
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._cases: Cases | None = None

    @property
    def key(self) -> tuple | None:
        """The data versions of the cases held."""
        return self._key

    def get(self, engine: Engine) -> Cases:
        """The current cases (read again only after a change)."""
        with engine.connect() as conn:
            key = tuple(conn.execute(_VERSIONS).all())
        with self._lock:
            if self._cases is None or key != self._key:
                if self._cases is None:
                    sync_limits(engine, self.settings.hours())
                self._cases = read_cases(engine, self.settings)
                self._key = key
            return self._cases


__all__ = ["CATEGORIES", "GROUPS", "LEVELS", "NAT", "SOURCES", "CaseCache", "Cases",
           "check_group", "check_level", "read_cases"]

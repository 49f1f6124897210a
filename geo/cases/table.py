"""The cases held in memory: one row per incident, with its units and case-flow times.

Read with one CSV ``COPY`` (times as integer microseconds since the Unix epoch) inside
a repeatable-read transaction together with the ``layer_versions`` of the incidents,
grids and admin areas, so the cases and the versions they claim always agree. Every
figure is then numpy masks and ``bincount`` over these arrays.

After a change of the incidents only (grids and admin areas as they were), the cache
reads again only what changed: every row's ``(id, xmin)`` (its id and the transaction
that wrote its current version; any INSERT or UPDATE gives a row a new ``xmin``) is
compared with the rows held, and only the new or changed rows are read in full, in the
same transaction; rows no longer there are dropped. The result equals a full read
(tests check it). Past ``ONEMAP_CASE_INCREMENTAL_SHARE`` of the rows changed, or after
a change of grids or admin areas, everything is read again.

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

from geo.cases.nearby import earlier_within
from geo.cases.settings import CaseSettings
from geo.errors import InvalidInput
from geo.versions import layer_versions
from geo.vocabulary import CATEGORIES, SOURCES, UNIT_LEVELS

LEVELS = UNIT_LEVELS
GROUPS = ("department", "category", "source")
STATUSES = ("received", "dispatched", "resolved", "closed")
SATISFACTION = ("satisfied", "basic", "unsatisfied")
NAT = np.iinfo(np.int64).min  # "no time"
RATED, GOOD, REOPENED, FROM_110 = 0, 1, 2, 3  # bits of Cases.static_flags

_KEY_LAYERS = ("admin_areas", "grids", "incidents")  # the versions the cases are read at
_UNIT_LAYERS = ("admin_areas", "grids")
_TIMES = ("occurred_at", "due_at", "dispatched_at", "resolved_at", "closed_at")
_CASES_SQL = f"""
    SELECT i.id, i.external_id, i.source, i.category, i.subcategory, i.status, i.department,
           i.satisfaction, i.reopened, i.routed_from,
           {', '.join(f"(extract(epoch FROM i.{t}) * 1000000)::bigint AS {t}" for t in _TIMES)},
           ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
           g.code AS grid, c.code AS community, s.code AS street, d.code AS district,
           i.xmin::text::bigint AS row_xmin
    FROM incidents AS i
    LEFT JOIN grids AS g ON g.id = i.grid_id
    LEFT JOIN admin_areas AS c ON c.code = g.community_code AND c.level = 'community'
    LEFT JOIN admin_areas AS s ON s.code = c.parent_code AND s.level = 'street'
    LEFT JOIN admin_areas AS d ON d.code = s.parent_code AND d.level = 'district'
    {{where}}
    ORDER BY i.id
"""
# Every row's id and xmin in one bytea: big-endian int64 (id << 32 | xmin) when every id fits
# in 31 bits, else id and xmin as two int64 each.
_FINGERPRINT_PACKED = ("SELECT string_agg(int8send((id << 32) | xmin::text::bigint), ''::bytea) "
                       "FROM incidents")
_FINGERPRINT_WIDE = ("SELECT string_agg(int8send(id) || int8send(xmin::text::bigint), ''::bytea) "
                     "FROM incidents")
_TEXT_COLS = ("external_id", "source", "category", "subcategory", "status", "department",
              "satisfaction", "routed_from", "grid", "community", "street", "district")
_UNITS_SQL = """
    SELECT level, code, coalesce(name, code) AS name FROM admin_areas
    UNION ALL
    SELECT 'grid', g.code, coalesce(g.name, g.code)
    FROM grids AS g JOIN grid_plans AS p ON p.id = g.plan_id WHERE p.status = 'active'
    ORDER BY 1, 2
"""


def _sorted_by(values: np.ndarray, hint: tuple | None) -> np.ndarray:
    """Rows in the order of ``values`` (NaN last; ties in any order).

    With ``hint`` = (an order of earlier values, the rows whose value changed since), the
    unchanged rows keep their places and only the changed ones are sorted and merged in.
    """
    if hint is None:
        return np.argsort(values, kind="stable")
    before, changed = hint
    moved = np.zeros(len(values), bool)
    moved[changed] = True
    keep = before[~moved[before]]
    ins = changed[np.argsort(values[changed], kind="stable")]
    return np.insert(keep, np.searchsorted(values[keep], values[ins]), ins)


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
    key: tuple | None = None  # the layer versions read with the cases
    text_codes: dict[str, tuple[np.ndarray, list]] = field(default_factory=dict)  # see codes()
    order_hint: tuple | None = None  # (hours order before, rows changed since), same rows

    def __post_init__(self):
        f = self.frame
        self._codes = self.text_codes
        codes, labels = self.codes("category")
        per_label = np.array([*(self.hours.get(c, np.nan) for c in labels), np.nan], float)
        cat_hours = per_label[codes]  # code −1 (no category) reads the last slot: nan
        occurred = f["occurred_at"].to_numpy()
        due = f["due_at"].to_numpy()
        self.limit = np.where(due != NAT, due, occurred + np.round(cat_hours * 3.6e9)
                              .astype(np.int64))
        resolved, closed = f["resolved_at"].to_numpy(), f["closed_at"].to_numpy()
        self.done_time = np.where(resolved != NAT, resolved, closed)
        self.done_status = self.is_in("status", ("resolved", "closed"))
        sat_codes, _ = self.codes("satisfaction")
        self.rated = sat_codes >= 0
        self.good = self.is_in("satisfaction", ("satisfied", "basic"))
        self.from_110 = self.is_in("routed_from", ("110",))
        self.reopened_any = f["reopened"].to_numpy() > 0
        self.static_flags = (self.rated.view(np.uint8) << RATED | self.good.view(np.uint8) << GOOD
                             | self.reopened_any.view(np.uint8) << REOPENED
                             | self.from_110.view(np.uint8) << FROM_110)
        known = self.done_time != NAT
        occurred_us = f["occurred_at"].to_numpy()
        self.hours = np.where(known, (self.done_time - occurred_us) / 3.6e9, np.nan)
        self.hours_order = _sorted_by(self.hours, self.order_hint)  # NaN last
        self.order_hint = None
        for level in LEVELS[1:]:
            if level not in self.unit_codes:
                index = pd.Index(self.units[level]["code"])
                self.unit_codes[level] = index.get_indexer(f[level].astype(object))
        self.unit_codes["city"] = np.zeros(len(f), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.frame)

    def is_in(self, column: str, values: tuple[str, ...]) -> np.ndarray:
        """Per case: whether the text ``column`` holds one of ``values``."""
        codes, labels = self.codes(column)
        table = np.array([*(lab in values for lab in labels), False], bool)
        return table[codes]

    def codes(self, column: str) -> tuple[np.ndarray, list]:
        """Integer codes of a text column (−1: empty) and the sorted labels they index."""
        if column not in self._codes:
            codes, labels = pd.factorize(self.frame[column], sort=True, use_na_sentinel=True)
            self._codes[column] = (codes.astype(np.int64), [str(x) for x in labels])
        return self._codes[column]


def _copy(cur, sql: str, params=None) -> bytes:
    buf = bytearray()
    with cur.copy(sql, params) as copy:
        for block in copy:
            buf += block
    return bytes(buf)


def _parse(data: bytes) -> pd.DataFrame:
    """The CSV of :data:`_CASES_SQL` as a frame (times int64 µs, text None when empty)."""
    import pyarrow as pa

    types = {c: pa.string() for c in _TEXT_COLS}
    types.update({t: pa.int64() for t in _TIMES})
    types.update({"id": pa.int64(), "reopened": pa.int64(), "lon": pa.float64(),
                  "lat": pa.float64(), "row_xmin": pa.int64()})
    table = pa_csv.read_csv(io.BytesIO(data), convert_options=pa_csv.ConvertOptions(
        column_types=types, strings_can_be_null=True))
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        if name in _TEXT_COLS:  # object arrays sharing one str per distinct value
            enc = col.dictionary_encode().combine_chunks()
            labels = np.array([*enc.dictionary.to_pylist(), None], dtype=object)
            idx = enc.indices.fill_null(len(labels) - 1).to_numpy(zero_copy_only=False)
            cols[name] = labels[idx]
        elif name in _TIMES:
            cols[name] = col.fill_null(NAT).to_numpy().astype(np.int64)
        else:
            cols[name] = col.to_numpy()
    return _frame(cols)


def _frame(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """A frame of the arrays, object arrays kept as objects (not inferred as ``str``)."""
    return pd.DataFrame({c: pd.Series(a, dtype=object, copy=False) if a.dtype == object else a
                         for c, a in cols.items()}, copy=False)


def _cases_copy(where: str = "") -> str:
    return f"COPY ({_CASES_SQL.format(where=where)}) TO STDOUT (FORMAT csv, HEADER)"


def _fingerprint(cur) -> tuple[np.ndarray, np.ndarray]:
    """Every row's id and xmin, sorted by id (one packed ``bytea`` value, not a row each)."""
    top = cur.execute("SELECT max(id) FROM incidents").fetchone()[0]
    if top is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if 0 <= top < 2**31 and cur.execute("SELECT min(id) >= 0 FROM incidents").fetchone()[0]:
        packed = cur.execute(_FINGERPRINT_PACKED).fetchone()[0] or b""
        v = np.frombuffer(packed, dtype=">i8").astype(np.int64)
        ids, xmin = v >> 32, v & 0xFFFFFFFF
    else:
        wide = cur.execute(_FINGERPRINT_WIDE).fetchone()[0] or b""
        v = np.frombuffer(wide, dtype=">i8").astype(np.int64)
        ids, xmin = v[0::2], v[1::2]
    order = np.argsort(ids, kind="stable")
    return ids[order], xmin[order]


def _read_all(cur, settings: CaseSettings) -> Cases:
    frame = _parse(_copy(cur, _cases_copy()))
    units = pd.DataFrame(cur.execute(_UNITS_SQL).fetchall(), columns=["level", "code", "name"])
    per_level = {lv: units[units["level"] == lv][["code", "name"]].reset_index(drop=True)
                 for lv in LEVELS[1:]}
    return Cases(frame, per_level, settings.hours())


def _read_changes(cur, base: Cases, settings: CaseSettings) -> Cases | None:
    """``base`` brought up to date by reading only the changed rows (None: too many)."""
    ids, xmin = _fingerprint(cur)
    old_ids = base.frame["id"].to_numpy()
    old_xmin = base.frame["row_xmin"].to_numpy()
    if len(old_ids) == 0 or len(ids) == 0:
        return None
    pos = np.minimum(np.searchsorted(old_ids, ids), len(old_ids) - 1)
    same = (old_ids[pos] == ids) & (old_xmin[pos] == xmin)
    kept = np.zeros(len(old_ids), bool)
    kept[pos[same]] = True
    changed = ids[~same]
    updated = int((old_ids[pos[~same]] == changed).sum())
    deleted = int((~kept).sum()) - updated
    if len(changed) + deleted > settings.incremental_share * len(ids):
        return None
    fresh = _parse(_copy(cur, _cases_copy("WHERE i.id = ANY(%s)"), (changed.tolist(),)))
    if not np.array_equal(fresh["id"].to_numpy(), changed):
        return None
    merge = _Merge(len(ids), np.flatnonzero(same), pos[same], np.flatnonzero(~same))
    frame = _frame({c: merge(base.frame[c].to_numpy(), fresh[c].to_numpy())
                    for c in base.frame.columns})
    codes = {}
    for level in LEVELS[1:]:
        new = pd.Index(base.units[level]["code"]).get_indexer(fresh[level].astype(object))
        codes[level] = merge(base.unit_codes[level], new)
    text_codes = {}
    for column, (old_codes, labels) in base._codes.items():
        new = pd.Index(labels).get_indexer(fresh[column].astype(object))
        if ((new >= 0) | fresh[column].isna().to_numpy()).all():  # no label unseen before
            text_codes[column] = (merge(old_codes, new), labels)
    hint = (base.hours_order, merge.at_fresh) if merge.in_place and len(ids) >= len(base) \
        else None
    cases = Cases(frame, base.units, settings.hours(), unit_codes=codes, text_codes=text_codes,
                  order_hint=hint)
    carry_repeat_flags(base, cases, merge, np.flatnonzero(~kept), fresh)
    return cases


class _Merge:
    """Rows of the new state from the rows held (kept) and the rows read again (fresh).

    ``at_kept`` are the new positions of kept rows, which come from rows ``from_old``
    of the held state; ``at_fresh`` are the new positions of the fresh rows (both in id
    order, like the fresh rows themselves).
    """

    def __init__(self, n: int, at_kept: np.ndarray, from_old: np.ndarray, at_fresh: np.ndarray):
        self.n, self.at_kept, self.from_old, self.at_fresh = n, at_kept, from_old, at_fresh
        #: Every kept row in its old place (updates, appended rows): every other place is
        #: fresh, so a column is the old one (shared when unchanged) with the fresh rows in.
        self.in_place = n == len(at_kept) + len(at_fresh) and np.array_equal(at_kept, from_old)

    def __call__(self, old: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        if self.in_place and len(old) == self.n:
            if len(fresh) == 0 or bool(np.all(old[self.at_fresh] == fresh)):
                return old  # arrays held are never written to: sharing is safe
            out = old.copy()
            out[self.at_fresh] = fresh
            return out
        if self.in_place and len(old) < self.n:  # rows appended: every other place is fresh
            out = np.concatenate([old, np.empty(self.n - len(old), dtype=old.dtype)])
            out[self.at_fresh] = fresh
            return out
        out = np.empty(self.n, dtype=np.result_type(old.dtype, fresh.dtype)
                       if old.dtype != object else object)
        out[self.at_kept] = old[self.from_old]
        out[self.at_fresh] = fresh
        return out


def carry_repeat_flags(base: Cases, cases: Cases, merge: _Merge, gone_rows: np.ndarray,
                       fresh: pd.DataFrame) -> None:
    """Give ``cases`` the repeat flags ``base`` had, recomputing only those a change touches.

    A case's flag depends on its own subcategory, place and time and on the cases of the
    same subcategory in the ``days`` before it. So after a change, only the changed cases
    (old and new versions) and the cases of their subcategories in the ``days`` after them
    are linked again (:func:`geo.cases.nearby.earlier_within` on those rows); every other
    flag is kept.
    """
    memo = base.__dict__.get("_repeat_flags")
    if not memo:
        return
    where = ["subcategory", "lon", "lat", "occurred_at"]
    gone = base.frame.iloc[gone_rows]
    old = gone.set_index("id")[where]
    new = fresh.set_index("id")[where]
    both = old.index.intersection(new.index)
    moved = both[~(old.loc[both].fillna("").astype(str)
                   == new.loc[both].fillna("").astype(str)).all(axis=1).to_numpy()]
    touched = pd.concat([old.loc[old.index.difference(both).union(moved)],
                         new.loc[new.index.difference(both).union(moved)]])
    f = cases.frame
    rows = np.flatnonzero(f["id"].isin(new.index.difference(both).union(moved)).to_numpy())
    sub, occ = f["subcategory"].to_numpy(), f["occurred_at"].to_numpy()
    out = {}
    for (radius, days), flags in memo.items():
        # Old flags per new row: kept rows in place, rows read again from their old version.
        gone_flags = dict(zip(gone["id"], flags[gone_rows], strict=True))
        carried = merge(flags, np.array([gone_flags.get(i, False) for i in fresh["id"]], bool))
        span = int(days * 86_400_000_000)
        affected = [rows]
        for name, group in touched.dropna(subset=["subcategory"]).groupby("subcategory"):
            t = np.sort(group["occurred_at"].to_numpy())
            mine = np.flatnonzero(sub == name)
            k = np.searchsorted(t, occ[mine] - span, "left")  # first change at or after j − days
            affected.append(mine[(k < len(t)) & (t[np.minimum(k, len(t) - 1)] < occ[mine])])
        redo = np.unique(np.concatenate(affected))
        if len(redo):
            # Only cases that can be the earlier side for one of them take part.
            group = cases.codes("subcategory")[0]
            t = np.sort(occ[redo])
            k = np.minimum(np.searchsorted(t, occ, "right"), len(t) - 1)
            need = (t[k] > occ) & (t[k] - span <= occ) & np.isin(group, group[redo])
            need[redo] = True
            part = np.flatnonzero(need)
            carried[redo] = earlier_within(group[part], f["lon"].to_numpy()[part],
                                           f["lat"].to_numpy()[part], occ[part], radius, days,
                                           rows=np.searchsorted(part, redo))
        out[(radius, days)] = carried
    cases.__dict__["_repeat_flags"] = out


def load_cases(engine: Engine, settings: CaseSettings,
               base: Cases | None = None) -> Cases:
    """The cases and the data versions they were read at (:attr:`Cases.key`).

    With ``base`` (cases read earlier from the same database) and the grids and admin
    areas unchanged since, only the rows changed since are read (see the module notes).
    """
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        with pg.transaction(), pg.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            key = tuple(layer_versions(cur, _KEY_LAYERS).items())
            cases = None
            if base is not None and _unit_part(base.key) == _unit_part(key):
                cases = _read_changes(cur, base, settings)
            if cases is None:
                cases = _read_all(cur, settings)
    finally:
        raw.close()
    cases.key = key
    return cases


def _unit_part(key: tuple | None) -> tuple | None:
    return None if key is None else tuple(r for r in key if r[0] in _UNIT_LAYERS)


def read_cases(engine: Engine, settings: CaseSettings) -> Cases:
    """Every case with its units, read from the database."""
    return load_cases(engine, settings)


def sync_limits(engine: Engine, hours: dict[str, float]) -> None:
    """Make ``case_limits`` (read by the ``case_warnings`` view) equal the settings."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO case_limits (category, hours) VALUES (:c, :h) ON CONFLICT (category) "
            "DO UPDATE SET hours = EXCLUDED.hours WHERE case_limits.hours <> EXCLUDED.hours"),
            [{"c": c, "h": h} for c, h in hours.items()])


class CaseCache:
    """The last :class:`Cases` read, kept while the data versions stay the same."""

    def __init__(self, settings: CaseSettings):
        self.settings = settings
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._cases: Cases | None = None

    @property
    def key(self) -> tuple | None:
        """The data versions of the cases held."""
        return self._key

    def get(self, engine: Engine) -> Cases:
        """The current cases (after a change, only what changed is read again)."""
        with engine.connect() as conn:
            key = tuple(layer_versions(conn, _KEY_LAYERS).items())
        with self._lock:
            if self._cases is None or key != self._key:
                if self._cases is None:
                    sync_limits(engine, self.settings.hours())
                self._cases = load_cases(engine, self.settings, self._cases)
                self._key = self._cases.key
            return self._cases


__all__ = ["CATEGORIES", "GROUPS", "LEVELS", "NAT", "SOURCES", "CaseCache", "Cases",
           "check_group", "check_level", "load_cases", "read_cases"]

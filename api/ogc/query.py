"""Items queries: parameters parsed and checked, SQL built with bound values.

Features are serialised to GeoJSON by PostGIS (``json_build_object`` +
``ST_AsGeoJSON``); Python only joins the rows. ``numberMatched`` is exact on
small tables and estimated from statistics on large ones.

Examples
--------
>>> from api.ogc.collections import get_collection
>>> q = ItemsQuery.parse(get_collection("cameras"), {"status": "online", "limit": "5"})
>>> q.limit, q.equals
(5, (('status', 'online'),))
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from api.ogc.collections import Collection
from geo.errors import InvalidInput
from geo.params import check_text, parse_bbox, parse_interval, parse_time

RESERVED = ("bbox", "bbox-crs", "datetime", "limit", "offset", "f", "crs")
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@dataclass(frozen=True)
class ItemsQuery:
    """A validated items request."""

    bbox: tuple[float, float, float, float] | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100
    offset: int = 0
    equals: tuple[tuple[str, object], ...] = ()

    @classmethod
    def parse(cls, c: Collection, params: Mapping[str, str], default_limit: int = 100,
              max_limit: int = 10_000, *, tz: str = "Asia/Shanghai") -> ItemsQuery:
        """Read ``bbox``, ``datetime``, ``limit``, ``offset`` and property filters.

        Times without an offset are local time in ``tz`` (``ONEMAP_LOCAL_TIMEZONE``).
        """
        _check_crs(params)
        unknown = [k for k in params if k not in RESERVED and k not in c.props]
        if unknown:
            raise InvalidInput(
                f"unknown parameter(s) {', '.join(sorted(unknown))} for {c.name}; "
                f"filterable: {', '.join(n for n, p in c.props.items() if p.filterable)}"
            )
        start, end = _interval(params.get("datetime"), c, tz)
        return cls(
            bbox=parse_bbox(params.get("bbox"), allow_3d=True),
            start=start,
            end=end,
            limit=_int(params.get("limit"), "limit", default_limit, 1, max_limit),
            offset=_int(params.get("offset"), "offset", 0, 0, 10**9),
            equals=tuple(
                (name, _value(c, name, params[name], tz)) for name in c.props if name in params
            ),
        )

    @property
    def filtered(self) -> bool:
        """True when anything narrows the collection."""
        return bool(self.bbox or self.start or self.end or self.equals)


class _Binder:
    """Collects bound values and hands out ``$n`` placeholders."""

    def __init__(self) -> None:
        self.args: list = []

    def __call__(self, value) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def where_sql(c: Collection, q: ItemsQuery, bind: _Binder) -> str:
    """The WHERE clause (possibly empty) for a query, binding its values."""
    conds = []
    overridden = any(name in c.overrides_default for name, _ in q.equals)
    if c.default_where and not overridden:
        conds.append(c.default_where)
    if q.bbox:
        x0, y0, x1, y1 = q.bbox
        conds.append(f"ST_Intersects(t.geom, ST_MakeEnvelope({bind(x0)}, {bind(y0)}, "
                     f"{bind(x1)}, {bind(y1)}, 4326))")
    if q.start is not None:
        conds.append(f"{c.datetime_sql} >= {bind(q.start)}")
    if q.end is not None:
        conds.append(f"{c.datetime_sql} <= {bind(q.end)}")
    for name, value in q.equals:
        conds.append(f"{c.props[name].sql} = {bind(value)}")
    return ("WHERE " + " AND ".join(conds)) if conds else ""


def feature_sql(c: Collection, geom: str = "t.geom", props: tuple[str, ...] | None = None) -> str:
    """Expression giving one GeoJSON Feature as text."""
    names = props if props is not None else tuple(c.props)
    pairs = ", ".join(f"'{n}', {c.props[n].sql}" for n in names)
    return (f"json_build_object('type', 'Feature', 'id', {c.id_sql}, "
            f"'geometry', ST_AsGeoJSON({geom}, 7)::json, "
            f"'properties', json_build_object({pairs}))::text")


def items_sql(c: Collection, q: ItemsQuery, feature: str) -> tuple[str, list]:
    """Page of features, ordered by id."""
    bind = _Binder()
    where = where_sql(c, q, bind)
    sql = (f"SELECT {feature} FROM {c.name} AS t {where} "
           f"ORDER BY {c.id_sql} LIMIT {bind(q.limit)} OFFSET {bind(q.offset)}")
    return sql, bind.args


def item_sql(c: Collection, feature: str) -> str:
    """One feature by id."""
    return f"SELECT {feature} FROM {c.name} AS t WHERE {c.id_sql} = $1::bigint"


async def number_matched(conn: asyncpg.Connection, c: Collection, q: ItemsQuery,
                         exact_below: int) -> tuple[int, bool]:
    """Exact count on tables under ``exact_below`` rows, else the planner's estimate.

    Returns the number and whether it is exact.
    """
    rows = await conn.fetchval(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = $1::regclass", c.name
    )
    bind = _Binder()
    where = where_sql(c, q, bind)
    if rows is None or rows < 0 or rows < exact_below:
        sql = f"SELECT count(*) FROM {c.name} AS t {where}"
        return int(await conn.fetchval(sql, *bind.args)), True
    if not where:
        return int(rows), False
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {c.name} AS t {where}",
                               *bind.args)
    return int(json.loads(plan)[0]["Plan"]["Plan Rows"]), False


def _check_crs(params: Mapping[str, str]) -> None:
    for name in ("bbox-crs", "crs"):
        value = params.get(name)
        if value and value not in (CRS84, "EPSG:4326", "http://www.opengis.net/def/crs/EPSG/0/4326"):
            raise InvalidInput(f"{name}={value} is not supported; use {CRS84}")


def _interval(raw: str | None, c: Collection, tz: str
              ) -> tuple[datetime | None, datetime | None]:
    if raw is None or raw == "":
        return None, None
    if c.datetime_sql is None:
        raise InvalidInput(f"collection {c.name} has no time property; drop datetime")
    return parse_interval(raw, tz=tz)


def _int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise InvalidInput(f"{name}={value} is outside {low}..{high}")
    return value


def _value(c: Collection, name: str, raw: str, tz: str):
    prop = c.props[name]
    if not prop.filterable:
        raise InvalidInput(f"{name} of {c.name} cannot be filtered on")
    check_text(raw, name)
    try:
        if prop.kind == "integer":
            value = int(raw)
            if not INT4_MIN <= value <= INT4_MAX:
                raise InvalidInput(f"{name}={value} is outside {INT4_MIN}..{INT4_MAX}")
            return value
        if prop.kind == "number":
            return float(raw)
        if prop.kind == "boolean":
            low = raw.lower()
            if low not in ("true", "false", "1", "0"):
                raise ValueError
            return low in ("true", "1")
        if prop.kind == "datetime":
            return parse_time(raw, name, tz=tz)
    except ValueError:
        raise InvalidInput(f"{name}={raw!r} is not a valid {prop.kind}") from None
    return raw

"""The write path: COPY into a staging table, then one ``INSERT … SELECT``.

A validated frame is copied into a temporary staging table, then moved into the
layer's table by one ``INSERT … SELECT … ON CONFLICT``, in the caller's transaction.

Points travel as ``lon``/``lat`` doubles, other shapes as hex WKB, times as
integer microseconds since the epoch (exact, and cheap to format). The CSV for
COPY is written by Arrow's C++ writer, ten times faster than pandas here.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import shapely
from sqlalchemy import Connection, text

from geo.h3cells import COLUMNS as CELL_COLUMNS
from geo.layers import LayerSpec

STAGE = "onemap_stage"
_SQL_TYPES = {"text": "text", "enum": "text", "int": "bigint", "float": "double precision",
              "bool": "boolean", "time": "bigint"}
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


@dataclass
class Staged:
    """What was staged: the data columns, and whether geometry is lon/lat or WKB."""

    fields: list[str]
    extras: list[str]
    points: bool
    rows: int


def _stage_table(spec: LayerSpec, frame: gpd.GeoDataFrame) -> tuple[pd.DataFrame, Staged]:
    fields = [f for f in spec.fields if f in frame.columns]
    table: dict[str, object] = {}
    for name in fields:
        kind = spec.fields[name].kind
        col = frame[name]
        if kind == "time":
            us = (pd.to_datetime(col, utc=True) - _EPOCH) // pd.Timedelta(microseconds=1)
            table[name] = us.astype("Int64")
        elif kind == "bool":
            table[name] = col.astype("boolean").map({True: "t", False: "f"})
        else:
            table[name] = col
    extras = [c for c in ("plan_id", "h3", *CELL_COLUMNS, "grid_id") if c in frame.columns]
    for c in extras:
        table[c] = frame[c].astype("Int64")
    geoms = np.asarray(frame.geometry.values, dtype=object)
    points = spec.db_geometry == "point"
    if points:
        table["lon"] = shapely.get_x(geoms)
        table["lat"] = shapely.get_y(geoms)
    else:
        table["wkb"] = shapely.to_wkb(geoms, hex=True)
    out = pd.DataFrame(table, index=frame.index)
    return out, Staged(fields, extras, points, len(out))


def copy_stage(conn: Connection, spec: LayerSpec, frame: gpd.GeoDataFrame, *, chunk_rows: int,
               on_chunk: Callable[[int], None] | None = None) -> Staged:
    """Create the temporary staging table and COPY ``frame`` into it."""
    table, staged = _stage_table(spec, frame)
    cols = [f'"{c}" {_SQL_TYPES[spec.fields[c].kind]}' for c in staged.fields]
    cols += [f"{c} bigint" for c in staged.extras]
    cols += ["lon double precision", "lat double precision"] if staged.points else ["wkb text"]
    conn.execute(text(f"CREATE TEMP TABLE {STAGE} ({', '.join(cols)}) ON COMMIT DROP"))
    names = ", ".join(f'"{c}"' for c in table.columns)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    options = pa_csv.WriteOptions(include_header=False)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {STAGE} ({names}) FROM STDIN (FORMAT csv)") as copy:
        for start in range(0, arrow.num_rows, chunk_rows):
            part = arrow.slice(start, chunk_rows)
            buf = io.BytesIO()
            pa_csv.write_csv(part, buf, write_options=options)  # nulls as empty, unquoted
            copy.write(buf.getbuffer())
            if on_chunk:
                on_chunk(part.num_rows)
    cursor.close()
    return staged


def _geom_expr(spec: LayerSpec, staged: Staged) -> str:
    if staged.points:
        return "ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)"
    geom = "ST_GeomFromWKB(decode(s.wkb, 'hex'), 4326)"
    return f"ST_Multi({geom})" if spec.db_geometry == "multi" else geom


def _value_expr(spec: LayerSpec, name: str) -> str:
    if spec.fields[name].kind == "time":
        return f"timestamptz 'epoch' + s.\"{name}\" * interval '1 microsecond'"
    return f's."{name}"'


def _same_row(spec: LayerSpec, staged: Staged, geom: str) -> str:
    """SQL true when an equal row (same geometry, same name) is already stored."""
    name = ' AND t.name IS NOT DISTINCT FROM s.name' if "name" in staged.fields else ""
    return (f"EXISTS (SELECT 1 FROM {spec.name} t WHERE t.geom && {geom} "
            f"AND ST_Equals(t.geom, {geom}){name})")


def insert_sql(spec: LayerSpec, staged: Staged, *, update: bool, plan_id: int | None,
               bulk: bool = False) -> str:
    """The one INSERT … SELECT that moves staged rows into the layer's table.

    Returns counts ``(inserted, updated)``. Rows without a natural key are
    skipped when an equal row (geometry and name) already exists. Grids go into
    ``plan_id`` unless the row names its plan; incidents carry their grid from
    the stage (see :func:`geo.io.membership.grid_of_points`).

    With ``bulk`` (the caller holds a SHARE ROW EXCLUSIVE lock on the table),
    rows already present are left out by an anti-join instead of ``ON CONFLICT``,
    which spares every new row the speculative-insertion round trip. Incidents are
    inserted in H3 order so the heap and the spatial indexes fill with locality.
    """
    geom = _geom_expr(spec, staged)
    cols = [f'"{c}"' for c in staged.fields] + ["geom"]
    exprs = [_value_expr(spec, c) for c in staged.fields] + [geom]
    where: list[str] = []
    if spec.hooks.in_grids:
        cols += ["h3", *CELL_COLUMNS, "grid_id"]
        exprs += ["s.h3", *(f"s.{c}" for c in CELL_COLUMNS),
                  "s.grid_id" if "grid_id" in staged.extras else "NULL"]
    if spec.hooks.per_plan:
        cols.append("plan_id")
        exprs.append("COALESCE(s.plan_id, :plan)" if "plan_id" in staged.extras else ":plan")
    if spec.conflict_target is None:
        where.append(f"NOT {_same_row(spec, staged, geom)}")
    elif spec.hooks.code_or_same_row:
        where.append(f"(s.code IS NOT NULL OR NOT {_same_row(spec, staged, geom)})"
                     if "code" in staged.fields else f"NOT {_same_row(spec, staged, geom)}")
    conflict = ""
    if bulk and not update and spec.key:
        match = " AND ".join(f't."{k}" = s."{k}"' for k in spec.key)
        where.append(f"NOT EXISTS (SELECT 1 FROM {spec.name} t WHERE {match})")
    elif spec.conflict_target is not None:
        if update:
            keys = set(spec.key) | {"plan_id"}
            sets = [f"{c} = EXCLUDED.{c}" for c in cols if c.strip('"') not in keys]
            if spec.hooks.stamp_updates:
                sets.append("updated_at = now()")
            conflict = f"ON CONFLICT {spec.conflict_target} DO UPDATE SET {', '.join(sets)}"
        else:
            conflict = f"ON CONFLICT {spec.conflict_target} DO NOTHING"
    where_sql = f"WHERE {' AND '.join(where)}" if where else ""
    order = "ORDER BY s.h3" if "h3" in staged.extras else ""
    return f"""
        WITH ins AS (
            INSERT INTO {spec.name} ({', '.join(cols)})
            SELECT {', '.join(exprs)}
            FROM {STAGE} s
            {where_sql}
            {order}
            {conflict}
            RETURNING (xmax = 0) AS fresh
        )
        SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM ins
    """


def _secondary_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that back no constraint."""
    return [tuple(r) for r in conn.execute(text(
        """
        SELECT i.relname, pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = CAST(:table AS regclass)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        ORDER BY i.relname
        """), {"table": table}).all()]


def _existing_rows(conn: Connection, table: str) -> int:
    estimate = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                            {"t": table}).scalar()
    if estimate is None or estimate < 0:  # never analysed
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar())
    return int(estimate)


def insert_staged(conn: Connection, spec: LayerSpec, staged: Staged, *, update: bool,
                  plan_id: int | None, bulk_rows: int = 50_000) -> tuple[int, int]:
    """Run :func:`insert_sql`; returns ``(inserted, updated)``.

    Incident batches of ``bulk_rows`` or more take the bulk path: the table is
    locked against other writers (readers go on) for the rest of the transaction.
    A batch at least as large as the table also drops the secondary indexes
    (GiST, H3, time, grid) and rebuilds them after the insert — a sorted build is
    many times faster than a million incremental GiST inserts; readers then wait
    for the load to commit.
    """
    bulk = spec.hooks.in_grids and not update and staged.rows >= bulk_rows
    rebuild: list[tuple[str, str]] = []
    if bulk:
        conn.execute(text(f"LOCK TABLE {spec.name} IN SHARE ROW EXCLUSIVE MODE"))
        conn.execute(text(f"ANALYZE {STAGE}"))
        if staged.rows >= _existing_rows(conn, spec.name):
            rebuild = _secondary_indexes(conn, spec.name)
            for name, _ in rebuild:
                conn.execute(text(f'DROP INDEX "{name}"'))
    sql = insert_sql(spec, staged, update=update, plan_id=plan_id, bulk=bulk)
    params = {"plan": plan_id} if ":plan" in sql else {}
    inserted, updated = conn.execute(text(sql), params).one()
    for _, definition in rebuild:
        conn.execute(text(definition))
    return int(inserted), int(updated)

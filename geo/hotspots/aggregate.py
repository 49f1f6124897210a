"""Incident counts per H3 cell (and per time step) in SQL.

Every value is a bound parameter; the filter fragments are fixed text chosen
by which filters are set, so each combination keeps one stable statement. The
cell at a resolution is that resolution's own column (``h3_9`` …), the exact
``latlng_to_cell`` of the incident (see :mod:`geo.h3cells`).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from shapely import wkb
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from geo.h3cells import column
from geo.hotspots.params import Filters

LEVEL_ORDER = ("district", "street", "community")


def where_clause(f: Filters) -> tuple[str, dict]:
    """SQL ``WHERE`` text and its parameters for the filters."""
    parts, params = ["true"], {}
    if f.t0 is not None:
        parts.append("occurred_at >= :t0")
        params["t0"] = f.t0
    if f.t1 is not None:
        parts.append("occurred_at < :t1")
        params["t1"] = f.t1
    if f.categories:
        parts.append("category = ANY(:categories)")
        params["categories"] = list(f.categories)
    if f.sources:
        parts.append("source = ANY(:sources)")
        params["sources"] = list(f.sources)
    return " AND ".join(parts), params


def counts_by_cell(conn: Connection, res: int, f: Filters) -> tuple[np.ndarray, np.ndarray]:
    """Cells (int64, sorted) at ``res`` holding incidents, and their counts."""
    where, params = where_clause(f)
    rows = conn.execute(text(
        f"SELECT {column(res)} AS cell, count(*) AS n FROM incidents "
        f"WHERE {where} GROUP BY 1 ORDER BY 1"), params).all()
    return _arrays(rows)


def counts_by_cell_step(conn: Connection, res: int, edges: list[datetime], f: Filters
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells, step indices (0-based) and counts for steps ``[edges[i], edges[i+1])``."""
    where, params = where_clause(f)
    rows = conn.execute(text(
        f"SELECT {column(res)} AS cell, "
        "       width_bucket(occurred_at, CAST(:edges AS timestamptz[])) - 1 AS step, "
        "       count(*) AS n "
        f"FROM incidents WHERE {where} AND occurred_at >= :e0 AND occurred_at < :e1 "
        "GROUP BY 1, 2"),
        {"edges": list(edges), "e0": edges[0], "e1": edges[-1], **params}).all()
    if not rows:
        return (np.zeros(0, np.int64),) * 3
    arr = np.array(rows, dtype=np.int64)
    return arr[:, 0], arr[:, 1], arr[:, 2]


def incident_cells(conn: Connection, res: int) -> np.ndarray:
    """Every cell at ``res`` that holds at least one incident (any time), sorted."""
    rows = conn.execute(text(
        f"SELECT DISTINCT {column(res)} FROM incidents ORDER BY 1")).scalars().all()
    return np.array(rows, dtype=np.int64)


def time_range(conn: Connection, f: Filters) -> tuple[datetime | None, datetime | None]:
    """First and last ``occurred_at`` among the filtered incidents."""
    where, params = where_clause(f)
    row = conn.execute(text(
        f"SELECT min(occurred_at), max(occurred_at) FROM incidents WHERE {where}"), params).one()
    return row[0], row[1]


def admin_area(conn: Connection) -> tuple[BaseGeometry | None, str | None]:
    """Union of the admin areas of the top level present, and that level."""
    row = conn.execute(text(
        "SELECT level, ST_AsBinary(ST_UnaryUnion(ST_Collect(geom))) FROM admin_areas "
        "WHERE level = (SELECT level FROM admin_areas "
        "               ORDER BY array_position(CAST(:order AS text[]), level) LIMIT 1) "
        "GROUP BY level"), {"order": list(LEVEL_ORDER)}).first()
    if row is None:
        return None, None
    return wkb.loads(bytes(row[1])), row[0]


def incident_extent(conn: Connection) -> tuple[float, float, float, float] | None:
    """Bounding box of all incidents (lon_min, lat_min, lon_max, lat_max)."""
    row = conn.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
        "FROM (SELECT ST_Extent(geom) AS e FROM incidents) s")).one()
    return None if row[0] is None else tuple(float(v) for v in row)


def _arrays(rows) -> tuple[np.ndarray, np.ndarray]:
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    arr = np.array(rows, dtype=np.int64)
    return arr[:, 0], arr[:, 1]

"""Stable MVT statement texts, one per (layer, variant, filters present).

Only values are bound (``z``, ``x``, ``y``, tolerances, filter values), so the
text of a variant never changes from tile to tile and asyncpg's per-connection
statement cache reuses the prepared plan. Statements are written with named
placeholders (``$z``) and turned into positional ones (``$1``) here.

Examples
--------
>>> s = Statement.build("SELECT $z + $x * $z")
>>> s.text, s.names
('SELECT $1 + $2 * $1', ('z', 'x'))
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from geo.h3cells import column
from tiles.filters import TileFilters
from tiles.layers import TileLayer

ORIGIN = 20037508.342789244  # half the Web Mercator world width, metres
_NAMED = re.compile(r"\$([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Statement:
    """SQL text with positional parameters and the names bound to them, in order."""

    text: str
    names: tuple[str, ...]

    @classmethod
    def build(cls, sql: str) -> Statement:
        """Number the named placeholders in order of first appearance."""
        names: list[str] = []

        def number(match: re.Match) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return cls(_NAMED.sub(number, sql), tuple(names))

    def args(self, values: dict) -> list:
        """Positional arguments from named values."""
        return [values[n] for n in self.names]


def filter_conditions(layer: TileLayer, present: tuple[str, ...]) -> list[str]:
    """SQL conditions for the filters that are set (values stay placeholders)."""
    out = []
    if "from" in present:
        out.append(f"{layer.time_sql} >= $time_from")
    if "to" in present:
        out.append(f"{layer.time_sql} < $time_to")
    if "category" in present:
        out.append("t.category = ANY($categories::text[])")
    if "source" in present:
        out.append("t.source = ANY($sources::text[])")
    return out


# Sub-pixel features are skipped at low zoom (points always stay).
_VISIBLE = ("(ST_Dimension(t.geom_3857) = 0"
            " OR ST_XMax(t.geom_3857) - ST_XMin(t.geom_3857) >= $min_size"
            " OR ST_YMax(t.geom_3857) - ST_YMin(t.geom_3857) >= $min_size)")


def _where(layer: TileLayer, z_where: str, present: tuple[str, ...],
           drop_tiny: bool = False) -> str:
    conds = [c for c in (layer.where.replace("$plan", "$plan::int"), z_where) if c]
    if drop_tiny:
        conds.append(_VISIBLE)
    conds += filter_conditions(layer, present)
    return "".join(f"\n      AND {c}" for c in conds)


def _props(layer: TileLayer) -> str:
    return ", ".join(f'{p.sql} AS "{p.name}"' for p in layer.properties)


# Zooms whose snapped footprints are recorded (``onemap_mvt_snap_zooms``, revision 0006).
SNAP_ZOOMS = range(12, 21)
SNAP_EXTENT = 4096  # the grid ``onemap_mvt_snap`` snaps to


def snap_values(z: int, x: int, y: int, extent: int) -> dict:
    """Bound values of the snapped-footprint shortcut at tile ``z/x/y``.

    ``snap_bit`` is 0 outside :data:`SNAP_ZOOMS` or for another extent (the shortcut
    is never taken). ``scale``/``offset`` map EPSG:3857 onto the zoom's global grid with
    the float8 arithmetic of ``onemap_mvt_snap`` (so the outline is the one that was
    checked); ``shift_x``/``shift_y`` move that grid onto the tile's.
    """
    on = z in SNAP_ZOOMS and extent == SNAP_EXTENT
    scale = SNAP_EXTENT * 2.0 ** z / (2 * ORIGIN)
    return {"snap_bit": (1 << z) if on else 0, "scale": scale, "offset": ORIGIN * scale,
            "shift_x": float(-x * SNAP_EXTENT), "shift_y": float(-y * SNAP_EXTENT)}


_SNAPPED = ("ST_ForcePolygonCCW(ST_Translate(ST_SnapToGrid(ST_Affine(t.geom_3857,"
            " $scale::float8, 0, 0, -$scale::float8, $offset::float8, $offset::float8), 1),"
            " $shift_x::float8, $shift_y::float8))")


@lru_cache(maxsize=512)
def raw_statement(
    layer: TileLayer, z_where: str, present: tuple[str, ...], simplify: bool,
    extent: int, buffer: int,
) -> Statement:
    """Features as they are, clipped to the buffered tile.

    With ``simplify`` (low zoom), geometries are simplified and features smaller
    than ``$min_size`` in both directions are left out. Footprints of a layer with
    ``snap_zooms_sql`` that are valid once snapped and lie inside the buffered tile
    (one unit in, so snapping cannot push them past it) skip ``ST_AsMVTGeom`` and
    simplification: their snapped outline is the tile's. The envelopes are computed
    once per tile (a materialised CTE), not once per row.
    """
    geom = "ST_Simplify(t.geom_3857, $tolerance, true)" if simplify else "t.geom_3857"
    margin = buffer / extent
    where = _where(layer, z_where, present, drop_tiny=simplify)
    exact = f"ST_AsMVTGeom({geom}, e.tile, {extent}, {buffer}, true)"
    envelopes = "ST_TileEnvelope($z, $x, $y) AS tile"
    if layer.snap_zooms_sql is None:
        mvt_geom = exact
    else:
        envelopes += f", ST_TileEnvelope($z, $x, $y, margin => {(buffer - 1) / extent!r}) AS inner"
        mvt_geom = (f"CASE WHEN {layer.snap_zooms_sql} & $snap_bit <> 0 AND t.geom_3857 @ e.inner"
                    f"\n                THEN {_SNAPPED}\n                ELSE {exact} END")
    sql = f"""
WITH e AS MATERIALIZED (SELECT {envelopes})
SELECT ST_AsMVT(q, '{layer.name}', {extent}, 'geom', 'id')
FROM (
    SELECT {layer.id_sql} AS id, {_props(layer)},
           {mvt_geom} AS geom
    FROM e, {layer.table} AS t
    WHERE t.geom_3857 && ST_TileEnvelope($z, $x, $y, margin => {margin!r}){where}
    LIMIT $feature_limit
) AS q"""
    return Statement.build(sql)


@lru_cache(maxsize=256)
def cluster_statement(
    layer: TileLayer, z_where: str, present: tuple[str, ...], at_centre: bool, extent: int,
) -> Statement:
    """Points counted per cell of a global grid aligned with the tiles.

    A cell belongs to exactly one tile (the bound index ranges), so counts add
    up to the raw count across tiles. The point sits at the members' mean, or
    at the cell centre when ``at_centre`` (coarsened positions).
    """
    counts = "".join(
        f',\n               count(*) FILTER (WHERE {cond}) AS "{name}"'
        for name, cond in layer.cluster_counts
    )
    names = "".join(f', c."{name}"' for name, _ in layer.cluster_counts)
    where = _where(layer, z_where, present)
    if at_centre:
        point = (f"ST_Point(-{ORIGIN!r} + (c.cx + 0.5) * $cell, "
                 f"{ORIGIN!r} - (c.cy + 0.5) * $cell, 3857)")
    else:
        point = "ST_Point(c.px, c.py, 3857)"
    sql = f"""
SELECT ST_AsMVT(q, '{layer.name}', {extent}, 'geom', 'id')
FROM (
    SELECT c.cy * $id_stride + c.cx AS id, c.n AS "count"{names},
           ST_AsMVTGeom({point}, ST_TileEnvelope($z, $x, $y), {extent}, 0, false) AS geom
    FROM (
        SELECT floor((ST_X(t.geom_3857) + {ORIGIN!r}) / $cell)::bigint AS cx,
               floor(({ORIGIN!r} - ST_Y(t.geom_3857)) / $cell)::bigint AS cy,
               count(*) AS n, avg(ST_X(t.geom_3857)) AS px, avg(ST_Y(t.geom_3857)) AS py{counts}
        FROM {layer.table} AS t
        WHERE t.geom_3857 && ST_Expand(ST_TileEnvelope($z, $x, $y), $reach){where}
        GROUP BY 1, 2
    ) AS c
    WHERE c.cx BETWEEN $cx0 AND $cx1 AND c.cy BETWEEN $cy0 AND $cy1
) AS q"""
    return Statement.build(sql)


@lru_cache(maxsize=64)
def h3_count_statement(layer: TileLayer, present: tuple[str, ...], res: int) -> Statement:
    """Incident counts per H3 cell at ``res`` around a tile (for aggregated views).

    The cell is the incident's own cell at ``res`` (its ``h3_<res>`` column), not
    the parent of a finer one.
    """
    where = _where(layer, "", present)
    sql = f"""
SELECT t.{column(res)} AS cell, count(*) AS n
FROM {layer.table} AS t
WHERE t.geom_3857 && ST_Expand(ST_TileEnvelope($z, $x, $y), $reach){where}
GROUP BY 1"""
    return Statement.build(sql)


@lru_cache(maxsize=16)
def cells_statement(name: str, columns: tuple[tuple[str, str], ...], extent: int,
                    buffer: int) -> Statement:
    """MVT of polygons passed in as arrays (WKB in EPSG:3857) with their properties.

    ``columns`` pairs a property name with its array type (``bigint``, ``float8``, ``text``…).
    """
    decl = ", ".join(f'"{col}"' for col, _ in columns)
    arrays = ", ".join(f"${col}::{typ}[]" for col, typ in columns)
    props = ", ".join(f'c."{col}"' for col, _ in columns)
    sql = f"""
SELECT ST_AsMVT(q, '{name}', {extent}, 'geom', 'id')
FROM (
    SELECT c.id, {props},
           ST_AsMVTGeom(ST_GeomFromWKB(c.wkb, 3857), ST_TileEnvelope($z, $x, $y),
                        {extent}, {buffer}, true) AS geom
    FROM unnest($ids::bigint[], $wkbs::bytea[], {arrays}) AS c(id, wkb, {decl})
) AS q"""
    return Statement.build(sql)


def filter_values(filters: TileFilters) -> dict:
    """Bound values of the filters (all keys, used or not)."""
    return {
        "time_from": filters.time_from,
        "time_to": filters.time_to,
        "categories": list(filters.categories),
        "sources": list(filters.sources),
        "plan": filters.plan,
    }

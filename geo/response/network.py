"""The routable road network: roads noded at every crossing, in pgRouting's edge shape.

``build_edges`` nodes the road lines (shapely, metric CRS), gives every piece the
road it came from, orients it the way that road was drawn and prices it per mode:
``drive_cost``/``drive_reverse_cost`` in seconds at ``speed_kmh`` (else the class
speed), ``-1`` against a one-way; ``walk_cost`` at the walking speed both ways.
``ensure_network`` keeps ``response_edges`` in step with the roads layer version and
with the settings the edges are priced with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text

from geo.coverage.metric import metric_epsg
from geo.crs import Projector
from geo.errors import NotFound
from geo.response.settings import ResponseSettings
from geo.settings import ServiceAreaSettings
from geo.versions import layer_versions

_ROADS_SQL = text(
    """
    SELECT id, class, oneway, speed_kmh, ST_AsBinary(ST_Transform(geom, :epsg)) AS wkb
    FROM roads ORDER BY id
    """
)
_BUILT_SQL = text(
    "SELECT roads_version, metric_epsg, recipe FROM response_network WHERE id = 1")
_INSERT_SQL = text(
    """
    INSERT INTO response_edges (id, road_id, source, target, length_m, drive_cost,
                                drive_reverse_cost, walk_cost, geom)
    SELECT e.id, e.road_id, e.source, e.target, e.length_m, e.dc, e.drc, e.wc,
           ST_Transform(ST_SetSRID(ST_GeomFromWKB(e.wkb), :epsg), 4326)
    FROM unnest(CAST(:id AS bigint[]), CAST(:road AS int[]), CAST(:src AS bigint[]),
                CAST(:tgt AS bigint[]), CAST(:len AS float8[]), CAST(:dc AS float8[]),
                CAST(:drc AS float8[]), CAST(:wc AS float8[]), CAST(:wkb AS bytea[]))
         AS e(id, road_id, source, target, length_m, dc, drc, wc, wkb)
    """
)
_MARK_SQL = text(
    """
    INSERT INTO response_network (id, roads_version, metric_epsg, recipe, built_at)
    VALUES (1, :version, :epsg, :recipe, now())
    ON CONFLICT (id) DO UPDATE SET roads_version = excluded.roads_version,
        metric_epsg = excluded.metric_epsg, recipe = excluded.recipe, built_at = now()
    """
)
_EDGES_SQL = text(
    """
    SELECT coalesce(road_id, 0), source, target, length_m, drive_cost, drive_reverse_cost,
           walk_cost, ST_AsBinary(ST_Transform(geom, :epsg)) AS wkb
    FROM response_edges ORDER BY id
    """
)


@dataclass
class Edges:
    """Noded, priced road pieces (metric geometries), one row per edge."""

    road_id: np.ndarray
    source: np.ndarray
    target: np.ndarray
    length_m: np.ndarray
    drive_cost: np.ndarray
    drive_reverse_cost: np.ndarray
    walk_cost: np.ndarray
    geoms: np.ndarray
    n_nodes: int
    epsg: int
    version: int = 0

    def __len__(self) -> int:
        return len(self.source)


def _node(lines: np.ndarray) -> np.ndarray:
    """Every line split at every crossing with every other (exact shared end points)."""
    if len(lines) == 0:
        return np.array([], dtype=object)
    noded = shapely.union_all(lines)
    parts = shapely.get_parts(noded)
    return parts[shapely.length(parts) > 1e-6]


def join_gaps(lines: np.ndarray, gap_m: float) -> np.ndarray:
    """Lines whose loose ends within ``gap_m`` of another line are drawn on to meet it.

    Digitised streets often stop a metre or two short of the street they join (a
    drawing gap, or a clip to an area's outline); noded as they are, whole quarters
    would be islands no post can reach. An end that touches another line already, or
    whose nearest other line is farther than ``gap_m``, is a true dead end and stays.

    Examples
    --------
    >>> from shapely import LineString
    >>> out = join_gaps(np.array([LineString([(0, 0), (100, 0)]),
    ...                            LineString([(50, 2), (50, 80)])], dtype=object), 3.0)
    >>> [round(c, 2) for c in out[1].coords[0]], out[0].coords[0]
    ([50.0, -0.01], (0.0, 0.0))
    """
    if gap_m <= 0 or len(lines) < 2:
        return lines
    n = len(lines)
    ends = np.r_[shapely.get_point(lines, 0), shapely.get_point(lines, -1)]
    owner = np.r_[np.arange(n), np.arange(n)]
    end_i, line_j = shapely.STRtree(lines).query(ends, predicate="dwithin", distance=gap_m)
    keep = owner[end_i] != line_j
    end_i, line_j = end_i[keep], line_j[keep]
    if len(end_i) == 0:
        return lines
    dist = shapely.distance(ends[end_i], lines[line_j])
    order = np.lexsort((dist, end_i))  # per end, nearest line first
    end_i, line_j, dist = end_i[order], line_j[order], dist[order]
    first = np.r_[True, end_i[1:] != end_i[:-1]]
    end_i, line_j, dist = end_i[first], line_j[first], dist[first]
    loose = dist > 1e-3  # ends within a millimetre are joined already (nodes are keyed in mm)
    end_i, line_j = end_i[loose], line_j[loose]
    meet = shapely.get_coordinates(shapely.line_interpolate_point(
        lines[line_j], shapely.line_locate_point(lines[line_j], ends[end_i])))
    # Overshoot by a centimetre so that noding finds a true crossing (a point computed
    # onto a line is off it by rounding).
    start = shapely.get_coordinates(ends[end_i])
    step = meet - start
    meet = meet + 0.01 * step / np.linalg.norm(step, axis=1, keepdims=True)
    out = lines.copy()
    for e, point in zip(end_i.tolist(), meet.tolist(), strict=True):
        i = e % n
        coords = shapely.get_coordinates(out[i]).tolist()
        coords = [point, *coords] if e < n else [*coords, point]
        out[i] = shapely.LineString(coords)
    return out


def build_edges(lines, classes, oneway, speed_kmh, road_ids, settings: ResponseSettings,
                epsg: int) -> Edges:
    """Node and price road lines given in a metric CRS.

    Parameters
    ----------
    lines : array of LineString or MultiLineString
        Road geometries (metres).
    classes, oneway : array of str
        Road class and ``no``/``yes``/``reverse`` per road.
    speed_kmh : array of float
        Speed per road; NaN for the class default.
    road_ids : array of int
        The road each line is.
    settings : ResponseSettings
        Speeds.
    epsg : int
        The metric CRS of ``lines``.

    Examples
    --------
    >>> from shapely import LineString
    >>> e = build_edges([LineString([(0, 0), (200, 0)]), LineString([(100, -50), (100, 50)])],
    ...                 ["local", "local"], ["yes", "no"], [float("nan")] * 2, [1, 2],
    ...                 ResponseSettings(_env_file=None), 32650)
    >>> len(e), e.n_nodes, sorted(e.drive_reverse_cost.round(1).tolist())
    (4, 5, [-1.0, -1.0, 9.0, 9.0])
    """
    parent_lines = shapely.get_parts(np.asarray(lines, dtype=object), return_index=True)
    plines, pidx = parent_lines
    classes = np.asarray(classes, dtype=object)[pidx]
    oneway = np.asarray(oneway, dtype=object)[pidx]
    speed = np.asarray(speed_kmh, dtype=float)[pidx]
    road_ids = np.asarray(road_ids)[pidx]
    plines = join_gaps(np.asarray(plines, dtype=object), settings.join_gap_m)
    pieces = _node(plines)
    # The road each piece lies on: the nearest line to its midpoint.
    mids = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
    tree = shapely.STRtree(plines)
    which = tree.query_nearest(mids, all_matches=False)[1]
    parent = plines[which]
    # Orient each piece the way its road was drawn.
    starts = shapely.get_point(pieces, 0)
    ends = shapely.get_point(pieces, -1)
    flip = shapely.line_locate_point(parent, starts) > shapely.line_locate_point(parent, ends)
    pieces = np.where(flip, shapely.reverse(pieces), pieces)
    coords_s = shapely.get_coordinates(shapely.get_point(pieces, 0))
    coords_e = shapely.get_coordinates(shapely.get_point(pieces, -1))
    keys = np.round(np.r_[coords_s, coords_e], 3)
    _, node = np.unique(keys, axis=0, return_inverse=True)
    node = node.ravel()
    n = len(pieces)
    length = shapely.length(pieces)
    cls = classes[which]
    kmh = speed[which]
    default = np.array([settings.drive_speed(c) for c in cls], dtype=float)
    kmh = np.where(np.isfinite(kmh) & (kmh > 0), kmh, default)
    secs = length / (kmh / 3.6)
    way = oneway[which]
    fwd = np.where(way == "reverse", -1.0, secs)
    back = np.where(way == "yes", -1.0, secs)
    walk = length / (settings.walk_kmh / 3.6)
    return Edges(road_ids[which], node[:n].astype(np.int64), node[n:].astype(np.int64), length,
                 fwd, back, walk, pieces, int(node.max()) + 1 if n else 0, epsg)


def roads_version(conn: Connection) -> int:
    """The roads layer's version (bumped by every change to ``roads``)."""
    return layer_versions(conn, ("roads",))["roads"]


def rebuild(conn: Connection, settings: ResponseSettings, epsg: int) -> int:
    """Re-node the roads into ``response_edges``; returns the roads version built from."""
    rows = conn.execute(_ROADS_SQL, {"epsg": epsg}).all()
    if not rows:
        raise NotFound("no roads: load the roads layer first")
    edges = build_edges(shapely.from_wkb([r.wkb for r in rows]), [r[1] for r in rows],
                        [r.oneway for r in rows],
                        [np.nan if r.speed_kmh is None else r.speed_kmh for r in rows],
                        [r.id for r in rows], settings, epsg)
    conn.execute(text("DELETE FROM response_edges"))
    conn.execute(_INSERT_SQL, {
        "id": list(range(1, len(edges) + 1)), "road": edges.road_id.tolist(),
        "src": (edges.source + 1).tolist(), "tgt": (edges.target + 1).tolist(),
        "len": edges.length_m.tolist(), "dc": edges.drive_cost.tolist(),
        "drc": edges.drive_reverse_cost.tolist(), "wc": edges.walk_cost.tolist(),
        "wkb": [shapely.to_wkb(g) for g in edges.geoms], "epsg": epsg})
    version = roads_version(conn)
    conn.execute(_MARK_SQL, {"version": version, "epsg": epsg,
                             "recipe": settings.network_recipe()})
    return version


def ensure_network(engine: Engine, settings: ResponseSettings,
                   area: ServiceAreaSettings) -> tuple[int, int]:
    """Bring ``response_edges`` up to date; (roads version, metric EPSG).

    The network is rebuilt when the roads changed (their layer version), or when it was
    built with other speeds, join gap (``settings.network_recipe()``) or metric CRS.
    """
    recipe = settings.network_recipe()

    def current(conn: Connection) -> tuple[int, int] | None:
        built = conn.execute(_BUILT_SQL).first()
        version = roads_version(conn)
        if built is None or built[0] != version or built[2] != recipe:
            return None
        if area.metric_epsg and int(built[1]) != area.metric_epsg:
            return None
        return version, int(built[1])

    with engine.connect() as conn:
        found = current(conn)
    if found is not None:
        return found
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('onemap_response_network'))"))
        found = current(conn)
        if found is not None:
            return found
        epsg = metric_epsg(conn, area)
        return rebuild(conn, settings, epsg), epsg


def load_edges(conn: Connection, epsg: int, version: int) -> Edges:
    """``response_edges`` as arrays (node ids from 0) with metric geometries."""
    rows = conn.execute(_EDGES_SQL, {"epsg": epsg}).all()
    if not rows:
        raise NotFound("the road network is empty: load the roads layer first")
    a = np.array([r[:7] for r in rows], dtype=float)
    src = a[:, 1].astype(np.int64) - 1
    tgt = a[:, 2].astype(np.int64) - 1
    return Edges(a[:, 0].astype(np.int64), src, tgt, a[:, 3], a[:, 4], a[:, 5], a[:, 6],
                 shapely.from_wkb([r.wkb for r in rows]), int(max(src.max(), tgt.max())) + 1,
                 epsg, version)


def projector(epsg: int) -> Projector:
    """The lon/lat ↔ metric projector of the network's CRS."""
    return Projector(epsg)

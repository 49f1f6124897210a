"""What a response analysis reads: the graph of a mode, its posts and the places to reach.

:func:`reach_context` loads (or takes from a :class:`ResponseCache`) the network of
the current roads version, the on-duty posts of the mode joined to it, and the
buildings (at their representative point), key places and recent incidents joined
to it too, with the seconds from every post to every node and every place.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, text

from geo.crs import Projector
from geo.errors import Infeasible, InvalidInput
from geo.lru import Lru
from geo.response.graph import MODES, EdgeIndex, ModeGraph, Snap
from geo.response.network import ensure_network, load_edges
from geo.response.settings import ResponseSettings
from geo.settings import ServiceAreaSettings
from geo.versions import layer_versions
from geo.vocabulary import POST_KINDS

MAX_BREAKS = 12

_POSTS_SQL = text(
    """
    SELECT id, code, name, kind, mode, turnout_s, ST_X(geom) AS lon, ST_Y(geom) AS lat,
           ST_AsBinary(ST_Transform(geom, :epsg)) AS wkb
    FROM posts
    WHERE status = 'on_duty' AND mode = :mode
    ORDER BY coalesce(code, ''), id
    """
)
# Read with the driver's cursor in binary: plain tuples, no per-row mapping objects.
_BUILDINGS_SQL = """
    SELECT id, code, households, coalesce(population, 0) AS population, community_code,
           ST_AsBinary(ST_Transform(ST_PointOnSurface(geom), %(epsg)s)) AS wkb
    FROM buildings ORDER BY id
"""
_PLACES_SQL = """
    SELECT id, name, kind, ST_AsBinary(ST_Transform(ST_PointOnSurface(geom), %(epsg)s)) AS wkb
    FROM places WHERE key ORDER BY id
"""
# Two float8[] in one row, fetched in binary (no text parsing of 2×100k numbers);
# projected to metres with pyproj in numpy.
_INCIDENTS_SQL = """
    SELECT coalesce(array_agg(ST_X(geom)), '{}'), coalesce(array_agg(ST_Y(geom)), '{}')
    FROM incidents WHERE occurred_at >= %(since)s AND occurred_at < %(until)s
"""


def check_mode(mode: str) -> str:
    """The mode, or a clear error."""
    if mode not in MODES:
        raise InvalidInput(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    return mode


def check_minutes(minutes, settings: ResponseSettings) -> tuple[float, ...]:
    """Breaks in minutes, sorted and unique; each in (0, max_minutes]."""
    try:
        values = sorted({float(m) for m in minutes})
    except (TypeError, ValueError):
        raise InvalidInput("minutes must be numbers, e.g. 1,3,5") from None
    if not values:
        raise InvalidInput("give at least one break in minutes, e.g. 1,3,5")
    if len(values) > MAX_BREAKS:
        raise InvalidInput(f"at most {MAX_BREAKS} breaks per request; got {len(values)}")
    for m in values:
        if not (0 < m <= settings.max_minutes) or not np.isfinite(m):
            raise InvalidInput(f"minutes must be > 0 and ≤ {settings.max_minutes:g}; got {m:g}")
    return tuple(values)


def default_minutes(mode: str) -> tuple[float, ...]:
    """Breaks when none are given: 1, 3, 5 minutes driving; 10 minutes walking."""
    return (10.0,) if mode == "walk" else (1.0, 3.0, 5.0)


@dataclass
class Places:
    """Points to reach (metric), joined to a graph."""

    frame: pd.DataFrame
    snap: Snap


@dataclass
class ReachContext:
    """A mode's graph, its posts, and the seconds from each post to nodes and places."""

    mode: str
    graph: ModeGraph
    posts: pd.DataFrame
    node_s: np.ndarray
    buildings: Places
    key_places: Places
    incidents: Places
    building_s: np.ndarray
    key_place_s: np.ndarray
    incident_s: np.ndarray  # one row: the fastest post (figures need no more)
    projector: Projector
    since: datetime
    until: datetime
    settings: ResponseSettings
    _pred: np.ndarray | None = None
    _full_s: np.ndarray | None = None
    key: tuple = ()  # what its areas depend on: network, posts, buildings, places versions
    incidents_read_at: datetime | None = None  # when its incidents were read
    incidents_stale: bool = False  # a newer incidents version is being read

    def predecessors(self) -> np.ndarray:
        """Scipy's predecessor matrix (posts × nodes), computed on first use."""
        return self.unlimited()[1]

    def unlimited(self) -> tuple[np.ndarray, np.ndarray]:
        """Seconds to every node with no break limit, and the predecessor matrix.

        ``node_s`` stops at the largest break (what circles and figures need); dispatch
        must find the fastest posts however far they are.
        """
        if self._pred is None:
            self._full_s, self._pred = self.graph.node_seconds(predecessors=True)
        return self._full_s, self._pred

    def select(self, mask: np.ndarray, key: tuple = ()) -> ReachContext:
        """The same context restricted to the posts where ``mask`` is true (``key`` names it)."""
        node_s = self.node_s[mask]
        best = node_s.min(axis=0, keepdims=True)
        return ReachContext(self.mode, self.graph, self.posts[mask].reset_index(drop=True),
                            node_s, self.buildings, self.key_places, self.incidents,
                            self.building_s[mask], self.key_place_s[mask],
                            self.graph.seconds_to(best, self.incidents.snap), self.projector,
                            self.since, self.until, self.settings,
                            None if self._pred is None else self._pred[mask],
                            None if self._full_s is None else self._full_s[mask],
                            (*self.key, *key) if self.key and key else (),
                            self.incidents_read_at, self.incidents_stale)


class ResponseCache(Lru):
    """Loaded graphs and places keyed by layer versions (a bounded :class:`geo.lru.Lru`).

    The background warm-up and the first request share one computation. ``made``
    counts the values made, by kind (the first item of the key); ``latest`` holds,
    per kind, the newest read (state, read at), guarded by ``lock``.
    """

    def __init__(self, size: int = 32):
        super().__init__(size)
        self.size = size
        self.made: Counter = Counter()
        self.latest: dict = {}

    def get(self, key, make):
        """The value for ``key``, made once by ``make()``."""
        def counted():
            value = make()
            with self.lock:
                self.made[key[0]] += 1
            return value

        return super().get(key, counted)


def _points(rows, epsg_col: str | int = "wkb") -> np.ndarray:
    return shapely.from_wkb([r[epsg_col] for r in rows]) if rows else np.array([], dtype=object)


def _read_posts(conn, mode: str, epsg: int) -> pd.DataFrame:
    rows = conn.execute(_POSTS_SQL, {"epsg": epsg, "mode": mode}).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows],
                         columns=["id", "code", "name", "kind", "mode", "turnout_s", "lon", "lat",
                                  "wkb"])
    frame["geometry"] = _points(rows)
    return frame.drop(columns="wkb")


def _frame(conn, sql: str, params: dict, columns: list[str]) -> pd.DataFrame:
    """Rows of ``sql`` (last column WKB) as a frame with a ``geometry`` column."""
    with conn.connection.driver_connection.cursor(binary=True) as cur:
        rows = cur.execute(sql, params).fetchall()
    frame = pd.DataFrame([r[:-1] for r in rows], columns=columns)
    frame["geometry"] = _points(rows, -1)
    return frame


def _read_places(conn, epsg: int):
    """Buildings (representative points) and key places, metric."""
    bf = _frame(conn, _BUILDINGS_SQL, {"epsg": epsg},
                ["id", "code", "households", "population", "community_code"])
    pf = _frame(conn, _PLACES_SQL, {"epsg": epsg}, ["id", "name", "kind"])
    return bf, pf


def _read_incidents(conn, epsg: int, since: datetime, until: datetime) -> pd.DataFrame:
    """Incident points of the window, metric (two arrays in one row: no per-row objects)."""
    with conn.connection.driver_connection.cursor(binary=True) as cur:
        lon, lat = cur.execute(_INCIDENTS_SQL, {"since": since, "until": until}).fetchone()
    x, y = Projector(epsg).xy_to_metric(lon, lat)
    return pd.DataFrame({"geometry": shapely.points(x, y) if len(x) else
                         np.array([], dtype=object)})


def _window(until: datetime | None, days: int) -> tuple[datetime, datetime]:
    until = until or datetime.now(UTC)
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return until - timedelta(days=days), until


def reach_context(engine: Engine, mode: str = "drive", *, settings: ResponseSettings,
                  area: ServiceAreaSettings, cache: ResponseCache | None = None,
                  until: datetime | None = None, require_posts: bool = True,
                  incidents_lag_s: float = 0.0) -> ReachContext:
    """Everything a reach figure needs for ``mode`` (from ``cache`` when versions match).

    With ``incidents_lag_s`` > 0 the incidents may be those read up to that many seconds
    ago while a newer version is read by someone else (the server's warm-up); see
    :func:`_incidents`. Everything else is always of the current versions.

    Raises
    ------
    InvalidInput
        Unknown mode.
    Infeasible
        No on-duty post of this mode (with ``require_posts``).
    """
    cache = cache if cache is not None else ResponseCache(size=12)
    check_mode(mode)
    roads_v, epsg = ensure_network(engine, settings, area)
    with engine.connect() as conn:
        versions = layer_versions(conn, ("posts", "buildings", "places", "incidents"))
    since, until = _window(until, settings.incident_days)
    hour = until.replace(minute=0, second=0, microsecond=0)  # figures stable within the hour
    since = hour - (until - since)
    posts_v, buildings_v, places_v, incidents_v = (
        versions.get(k) for k in ("posts", "buildings", "places", "incidents"))
    net = (roads_v, epsg, settings.network_recipe())  # the edges as priced by these settings

    def read(fn, *args):
        def make():
            with engine.connect() as conn:
                return fn(conn, *args)
        return make

    def make_network():
        edges = read(load_edges, epsg, roads_v)()
        return edges, EdgeIndex(edges.geoms)

    edges, index = cache.get(("network", *net), make_network)

    def make_graph():
        posts = read(_read_posts, mode, epsg)()
        graph = ModeGraph(edges, mode, posts["geometry"].to_numpy(),
                          posts["turnout_s"].to_numpy(), settings.connector_kmh, index)
        return posts, graph, graph.node_seconds(settings.max_minutes * 60.0)

    graph_key = (*net, posts_v, mode, settings.model_dump_json())
    posts, graph, node_s = cache.get(("graph", *graph_key), make_graph)
    if require_posts and len(posts) == 0:
        raise Infeasible(f"no on-duty post of mode {mode}: load posts (or set one on duty)")
    bf, pf = cache.get(("places", buildings_v, places_v, epsg), read(_read_places, epsg))

    # Places join the network once per version of theirs and of the roads; each posts'
    # graph then only re-joins the few edges its posts split (ModeGraph.join).
    def nearest(frame):
        return lambda: index.nearest(frame["geometry"].to_numpy())

    base_b = cache.get(("snap-buildings", *net, buildings_v), nearest(bf))
    base_p = cache.get(("snap-places", *net, places_v), nearest(pf))

    def make_reach():
        snaps = [graph.join(b) for b in (base_b, base_p)]
        return snaps, [graph.seconds_to(node_s, s) for s in snaps]

    key = (*graph_key, buildings_v, places_v)
    snaps, secs = cache.get(("reach", *key), make_reach)
    inc, inc_snap, inc_s, read_at, stale = _incidents(
        cache, index, graph, node_s, net, graph_key, (incidents_v, hour),
        read(_read_incidents, epsg, since, hour), incidents_lag_s)
    return ReachContext(mode, graph, posts, node_s, Places(bf, snaps[0]), Places(pf, snaps[1]),
                        Places(inc, inc_snap), secs[0], secs[1], inc_s, Projector(epsg),
                        since, hour, settings, key=key, incidents_read_at=read_at,
                        incidents_stale=stale)


def _incidents(cache: ResponseCache, index: EdgeIndex, graph: ModeGraph, node_s: np.ndarray,
               net: tuple, graph_key: tuple, state: tuple, read, lag_s: float):
    """The window's incidents, joined to the graph, with the fastest post's seconds.

    ``state`` is (incidents version, hour). With ``lag_s`` > 0, while this state is not
    read yet, the last state read at most ``lag_s`` seconds ago in the same hour is used
    instead (``stale``): the answer then misses at most the incident changes of the
    last ``lag_s`` seconds, and whoever computes the new state (the warm-up) pays the
    read. ``net`` is the network's key (roads version, metric EPSG, recipe). Returns
    (frame, snap, seconds, read at, stale).
    """
    epsg = net[1]
    latest = ("incidents", *net)
    use = state
    if lag_s > 0 and ("snap-incidents", *net, *state) not in cache:
        last = cache.latest.get(latest)
        if (last is not None and last[0][1] == state[1] and time.time() - last[1] <= lag_s
                and ("incidents", *last[0], epsg) in cache
                and ("snap-incidents", *net, *last[0]) in cache):
            use = last[0]

    def timed_read():
        read_at = time.time()
        return read(), read_at

    (inc, read_at) = cache.get(("incidents", *use, epsg), timed_read)
    base = cache.get(("snap-incidents", *net, *use),
                     lambda: index.nearest(inc["geometry"].to_numpy()))

    def make():
        snap = graph.join(base)
        best = node_s.min(axis=0, keepdims=True) if len(node_s) else node_s
        return snap, graph.seconds_to(best, snap)

    snap, secs = cache.get(("reach-incidents", *graph_key, *use), make)
    if use == state:
        with cache.lock:
            if latest not in cache.latest or cache.latest[latest][1] < read_at:
                cache.latest[latest] = (state, read_at)
    return inc, snap, secs, datetime.fromtimestamp(read_at, UTC), use != state


def filter_posts(ctx: ReachContext, kinds=None, codes=None) -> ReachContext:
    """Only the posts of ``kinds`` and/or with ``codes`` (unknown names are refused)."""
    mask = np.ones(len(ctx.posts), dtype=bool)
    if kinds:
        bad = sorted(set(kinds) - set(POST_KINDS))
        if bad:
            raise InvalidInput(f"unknown post kind {bad[0]!r}; kinds are: {', '.join(POST_KINDS)}")
        mask &= ctx.posts["kind"].isin(list(kinds)).to_numpy()
    if codes:
        known = set(ctx.posts["code"].dropna())
        bad = sorted(set(codes) - known)
        if bad:
            raise InvalidInput(f"no on-duty {ctx.mode} post with code {bad[0]!r}")
        mask &= ctx.posts["code"].isin(list(codes)).to_numpy()
    if not mask.any():
        raise Infeasible("no on-duty post matches kind/posts")
    if mask.all():
        return ctx
    return ctx.select(mask, ("posts", *ctx.posts["id"].to_numpy()[mask].tolist()))

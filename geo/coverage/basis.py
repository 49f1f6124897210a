"""The inputs of coverage figures, gaps and siting, read once and held in metres.

:class:`Basis` holds the stored views of online cameras, the obstacles (building
footprints and water), roads, key places and the incidents of a time window,
all reprojected to the metric CRS, plus the tiled unions the figures are
measured against.

Incidents inside a building footprint are moved to their *doorstep* — the
nearest point of public ground, ``doorstep_m`` outside the footprint — since
no street camera sees indoors but one watching the entrance sees the comings
and goings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from geo.coverage.metric import metric_epsg
from geo.coverage.tiling import (
    Tiling,
    polygon_parts,
    subtract_per_tile,
    tiled_union,
    union_by,
)
from geo.crs import Projector
from geo.errors import InvalidInput
from geo.settings import ServiceAreaSettings

CLASSES = ("A", "B", "C")

_VIEWS_SQL = text(
    """
    SELECT v.camera_id, c.class, c.kind, ST_AsBinary(v.geom) AS wkb
    FROM camera_views AS v JOIN cameras AS c ON c.id = v.camera_id
    WHERE c.status = 'online' AND v.geom IS NOT NULL
    ORDER BY v.camera_id
    """
)
_CAMERA_STATE_SQL = text(
    """
    SELECT c.id, c.code, c.name, c.class, c.kind, c.status,
           ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
           v.camera_id IS NOT NULL AS has_view, coalesce(v.area_m2, 0) AS area_m2
    FROM cameras AS c LEFT JOIN camera_views AS v ON v.camera_id = c.id
    ORDER BY c.id
    """
)
_WINDOW_END_SQL = text("SELECT max(occurred_at) FROM incidents")
_INCIDENTS_SQL = text(
    """
    SELECT array_agg(ST_X(geom)), array_agg(ST_Y(geom)) FROM incidents
    WHERE occurred_at > :since AND occurred_at <= :until
    """
)


def _wkb_frame(conn: Connection, sql: str, params=None) -> pd.DataFrame:
    frame = pd.DataFrame(conn.execute(text(sql), params or {}).mappings().all())
    if len(frame):
        frame["geometry"] = shapely.from_wkb(frame.pop("wkb").to_numpy())
    return frame


@dataclass
class Window:
    """The incident window: (since, until]."""

    since: datetime | None
    until: datetime | None
    days: int

    def as_dict(self) -> dict:
        """JSON form."""
        def iso(t):
            return t.isoformat() if t else None

        return {"from": iso(self.since), "to": iso(self.until), "days": self.days}


@dataclass
class Basis:
    """Everything coverage is measured against, in metres."""

    proj: Projector
    views: pd.DataFrame
    cameras: pd.DataFrame
    footprints: np.ndarray
    water: np.ndarray
    roads: np.ndarray
    places: pd.DataFrame
    incidents: pd.DataFrame
    window: Window
    tile_size: float = 250.0
    tiling: Tiling | None = None
    _cover: dict = field(default_factory=dict)
    _obstacle_tiles: tuple | None = None

    @property
    def obstacles(self) -> np.ndarray:
        """Footprints and water: ground that is not public."""
        return np.concatenate([self.footprints, self.water])

    def setup_tiles(self, extent_bounds) -> None:
        """Fix the tile lattice over the extent of the units measured."""
        tiling = Tiling.over(extent_bounds, self.tile_size)
        if tiling == self.tiling:
            return
        self.tiling = tiling
        self._cover = {k: v for k, v in self._cover.items() if k[0] in ("open", "points")}
        self._obstacle_tiles = None

    def obstacle_tiles(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-tile union of footprints and water."""
        if self._obstacle_tiles is None:
            self._obstacle_tiles = tiled_union(self.obstacles, self.tiling)
        return self._obstacle_tiles

    def obstacle_parts(self) -> np.ndarray:
        """Disjoint pieces of the obstacles."""
        return polygon_parts(self.obstacle_tiles()[1])

    def cover(self, cls: str | None = None, public: bool = True) -> np.ndarray:
        """Disjoint pieces of the union of views (of one class, or all).

        With ``public`` the obstacles are taken out (for areas and points);
        without, the raw union (for roads, which cross bridges).
        """
        key = (cls, public)
        if key not in self._cover:
            tiles, unions = self._class_tiles(cls)
            self._cover[(cls, False)] = polygon_parts(unions)
            ot, ou = self.obstacle_tiles()
            self._cover[(cls, True)] = polygon_parts(subtract_per_tile(tiles, unions, ot, ou))
        return self._cover[key]

    def _class_tiles(self, cls: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Per-tile union of the views of one class; all classes = union of the three."""
        key = ("tiles", cls)
        if key not in self._cover:
            if cls is None:
                parts = [self._class_tiles(k) for k in CLASSES]
                self._cover[key] = union_by(np.concatenate([p[1] for p in parts]),
                                            np.concatenate([p[0] for p in parts]))
            else:
                sel = self.views[self.views["class"] == cls]
                self._cover[key] = tiled_union(sel["geometry"].to_numpy(), self.tiling)
        return self._cover[key]

    def open_ground(self, attach_m: float) -> np.ndarray:
        """Incidents that happened out in the open: farther than ``attach_m`` from any footprint."""
        key = ("open", attach_m)
        if key not in self._cover:
            pts = self.incident_points()
            far = np.ones(len(pts), dtype=bool)
            if len(pts) and len(self.footprints):
                tree = shapely.STRtree(self.footprints)
                near, _ = tree.query(pts, predicate="dwithin", distance=attach_m)
                far[near] = False
            self._cover[key] = far
        return self._cover[key]

    def incident_points(self, doorstep: bool = False) -> np.ndarray:
        """Incidents as shapely points (metric), where they happened or at their doorsteps."""
        key = ("points", doorstep)
        if key not in self._cover:
            cols = ("sx", "sy") if doorstep else ("x", "y")
            self._cover[key] = shapely.points(self.incidents[cols[0]].to_numpy(float),
                                              self.incidents[cols[1]].to_numpy(float))
        return self._cover[key]

    def blocked(self) -> list[dict]:
        """Online cameras that see nothing at all."""
        c = self.cameras
        rows = c[(c["status"] == "online") & c["has_view"] & (c["area_m2"] <= 0)]
        return rows[["id", "code", "name", "class", "kind"]].to_dict("records")

    def camera_counts(self) -> dict:
        """Cameras by status and by class (online only)."""
        c = self.cameras
        online = c[c["status"] == "online"]
        return {
            "total": int(len(c)),
            "by_status": {s: int((c["status"] == s).sum()) for s in ("online", "offline", "fault")},
            "online_by_class": {k: int((online["class"] == k).sum()) for k in CLASSES},
            "without_view": int((online["has_view"] == False).sum()),  # noqa: E712
        }


def incident_window(conn: Connection, days: int, until: datetime | None = None,
                    since: datetime | None = None) -> Window:
    """The last ``days`` days of incidents, ending at ``until`` (default: the newest incident)."""
    if days <= 0:
        raise InvalidInput("the incident window must be at least one day")
    until = until or conn.execute(_WINDOW_END_SQL).scalar()
    if until is None:
        return Window(None, None, days)
    try:
        since = since or until - timedelta(days=days)
    except OverflowError:
        raise InvalidInput("the incident window reaches before year 1; pick a later end") from None
    if since >= until:
        raise InvalidInput("the incident window must end after it starts")
    return Window(since, until, max(1, (until - since).days))


def doorsteps(x, y, obstacles: np.ndarray, step: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Points inside an obstacle moved to ``step`` m outside its nearest edge."""
    x, y = np.asarray(x, dtype=float).copy(), np.asarray(y, dtype=float).copy()
    if len(x) == 0 or len(obstacles) == 0:
        return x, y
    pts = shapely.points(x, y)
    tree = shapely.STRtree(obstacles)
    pi, oi = tree.query(pts, predicate="within")
    if len(pi) == 0:
        return x, y
    pi, first = np.unique(pi, return_index=True)
    oi = oi[first]
    near = shapely.get_point(shapely.shortest_line(shapely.boundary(obstacles[oi]), pts[pi]), 0)
    nx, ny = shapely.get_x(near), shapely.get_y(near)
    dx, dy = nx - x[pi], ny - y[pi]
    d = np.maximum(np.hypot(dx, dy), 1e-9)
    x[pi], y[pi] = nx + dx / d * step, ny + dy / d * step
    return x, y


def read_basis(conn: Connection, *, window_days: int = 90, until: datetime | None = None,
               since: datetime | None = None, area: ServiceAreaSettings,
               doorstep_m: float = 1.0, tile_size: float = 250.0) -> Basis:
    """Read the views, obstacles, roads, key places and windowed incidents."""
    proj = Projector(metric_epsg(conn, area))
    views = _wkb_frame(conn, _VIEWS_SQL.text)
    if len(views) == 0:
        views = pd.DataFrame({"camera_id": [], "class": [], "kind": [], "geometry": []})
    views["geometry"] = proj.to_metric(views["geometry"].to_numpy())
    cameras = pd.DataFrame(conn.execute(_CAMERA_STATE_SQL).mappings().all(),
                           columns=["id", "code", "name", "class", "kind", "status", "lon", "lat",
                                    "has_view", "area_m2"])
    footprints, water = _obstacles(conn, proj)
    obstacles = np.concatenate([footprints, water])
    roads = proj.to_metric(shapely.from_wkb(
        [r[0] for r in conn.execute(text("SELECT ST_AsBinary(geom) FROM roads ORDER BY id"))]))
    places = _wkb_frame(conn, "SELECT id, name, kind, ST_AsBinary(geom) AS wkb FROM places "
                              "WHERE key ORDER BY id")
    if len(places):
        places["geometry"] = proj.to_metric(places["geometry"].to_numpy())
    window = incident_window(conn, window_days, until, since)
    lon = lat = None
    if window.until is not None:
        lon, lat = conn.execute(_INCIDENTS_SQL, {"since": window.since,
                                                 "until": window.until}).one()
    inc = pd.DataFrame({"lon": np.asarray(lon or [], dtype=float),
                        "lat": np.asarray(lat or [], dtype=float)})
    inc["x"], inc["y"] = proj.xy_to_metric(inc["lon"].to_numpy(float), inc["lat"].to_numpy(float))
    inc["sx"], inc["sy"] = doorsteps(inc["x"], inc["y"], obstacles, doorstep_m)
    return Basis(proj, views, cameras, footprints, water, roads, places, inc, window, tile_size)


def _obstacles(conn: Connection, proj: Projector) -> tuple[np.ndarray, np.ndarray]:
    """Polygonal footprints and water bodies, metric, exploded to polygons."""
    out = []
    for sql in ("SELECT ST_AsBinary(geom) FROM buildings WHERE GeometryType(geom) <> 'POINT'",
                "SELECT ST_AsBinary(geom) FROM waterways "
                "WHERE GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')"):
        geoms = shapely.from_wkb([r[0] for r in conn.execute(text(sql))])
        empty = np.empty(0, dtype=object)
        out.append(polygon_parts(proj.to_metric(geoms)) if len(geoms) else empty)
    return out[0], out[1]

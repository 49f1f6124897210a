"""Helpers for the coverage tests: a little world laid out in local metres.

Local coordinates (x east, y north, metres) are offsets from (118.05°E, 36.80°N)
in UTM zone 50N; they are converted to lon/lat when rows are inserted, so the
product's own metric CRS (the same zone) gives back the local geometry.
"""

from __future__ import annotations

import h3
import numpy as np
import shapely
from pyproj import Transformer
from sqlalchemy import Connection, text

from geo.h3cells import SQL_COLUMNS, SQL_PARAMS, cells_of

ORIGIN = (118.05, 36.80)
EPSG = 32650
_FWD = Transformer.from_crs(4326, EPSG, always_xy=True)
_INV = Transformer.from_crs(EPSG, 4326, always_xy=True)
X0, Y0 = _FWD.transform(*ORIGIN)


def to_lonlat(geom):
    """Local metres → lon/lat geometry."""
    def fn(xy):
        return np.column_stack(_INV.transform(xy[:, 0] + X0, xy[:, 1] + Y0))
    return shapely.transform(geom, fn)


def to_local(geom):
    """Lon/lat geometry → local metres."""
    def fn(xy):
        x, y = _FWD.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x - X0, y - Y0])
    return shapely.transform(geom, fn)


def add_camera(conn: Connection, x: float, y: float, **fields) -> int:
    """Insert a camera at local (x, y); returns its id."""
    row = dict(azimuth=0.0, fov=90.0, range_m=50.0, height_m=0.0, tilt=0.0, status="online",
               kind="bullet", cls="B", resolution_px=None, code=None, name=None)
    row.update(fields)
    row["wkt"] = to_lonlat(shapely.Point(x, y)).wkt
    return conn.execute(text(
        """INSERT INTO cameras (code, name, class, kind, azimuth, fov, range_m, height_m, tilt,
                                resolution_px, status, geom)
           VALUES (:code, :name, :cls, :kind, :azimuth, :fov, :range_m, :height_m, :tilt,
                   :resolution_px, :status, ST_GeomFromText(:wkt, 4326))
           RETURNING id"""), row).scalar_one()


def add_building(conn: Connection, geom, households: int = 0, community_code=None) -> int:
    """Insert a building footprint given in local metres."""
    return conn.execute(text(
        "INSERT INTO buildings (households, community_code, geom) "
        "VALUES (:h, :cc, ST_GeomFromText(:wkt, 4326)) RETURNING id"),
        {"h": households, "cc": community_code, "wkt": to_lonlat(geom).wkt}).scalar_one()


def add_area(conn: Connection, code: str, level: str, geom, parent=None) -> None:
    """Insert an admin area (local metres)."""
    conn.execute(text(
        "INSERT INTO admin_areas (code, name, level, parent_code, geom) "
        "VALUES (:c, :c, :l, :p, ST_Multi(ST_GeomFromText(:wkt, 4326)))"),
        {"c": code, "l": level, "p": parent, "wkt": to_lonlat(geom).wkt})


def add_road(conn: Connection, geom, cls: str = "local") -> None:
    """Insert a road (local metres)."""
    conn.execute(text(
        "INSERT INTO roads (class, geom) VALUES (:c, ST_Multi(ST_GeomFromText(:wkt, 4326)))"),
        {"c": cls, "wkt": to_lonlat(geom).wkt})


def add_place(conn: Connection, geom, key: bool = True, name: str = "place") -> int:
    """Insert a place (local metres)."""
    return conn.execute(text(
        "INSERT INTO places (name, kind, key, geom) VALUES (:n, 'school', :k, "
        "ST_GeomFromText(:wkt, 4326)) RETURNING id"),
        {"n": name, "k": key, "wkt": to_lonlat(geom).wkt}).scalar_one()


def add_incidents(conn: Connection, xy, when: str = "2026-06-01T12:00:00+08:00") -> None:
    """Insert incidents at local points."""
    for i, (x, y) in enumerate(xy):
        point = to_lonlat(shapely.Point(x, y))
        conn.execute(text(
            "INSERT INTO incidents (external_id, source, category, occurred_at, h3, "
            f"{SQL_COLUMNS}, geom) "
            f"VALUES (:e, 'grid', 'other', :t, :h3, {SQL_PARAMS}, "
            "ST_GeomFromText(:wkt, 4326))"),
            {"e": f"t{i}-{x:.3f}-{y:.3f}", "t": when, "wkt": point.wkt,
             "h3": h3.str_to_int(h3.latlng_to_cell(point.y, point.x, 12)),
             **cells_of(point.x, point.y)})


def add_grid(conn: Connection, code: str, geom, community_code=None) -> None:
    """Insert a grid into the active plan (created when missing)."""
    plan = conn.execute(text("SELECT id FROM grid_plans WHERE status = 'active'")).scalar()
    if plan is None:
        plan = conn.execute(text(
            "INSERT INTO grid_plans (name, status) VALUES ('现状网格', 'active') RETURNING id"
        )).scalar_one()
    conn.execute(text(
        "INSERT INTO grids (plan_id, code, community_code, geom) "
        "VALUES (:p, :c, :cc, ST_Multi(ST_GeomFromText(:wkt, 4326)))"),
        {"p": plan, "c": code, "cc": community_code, "wkt": to_lonlat(geom).wkt})


def stored_view(conn: Connection, camera_id: int):
    """The stored view (local metres) and area of a camera, or (None, None)."""
    row = conn.execute(text(
        "SELECT ST_AsBinary(geom), area_m2 FROM camera_views WHERE camera_id = :i"),
        {"i": camera_id}).first()
    if row is None:
        return None, None
    geom = shapely.from_wkb(row[0]) if row[0] is not None else None
    return (to_local(geom) if geom is not None else None), row[1]


def visible_by_rays(cam_xy, azimuth, fov, outer, inner, buildings, step=0.25):
    """Independent visible area: a lattice of points, each kept when it lies in the
    sector and the straight sight line from the camera meets no footprint."""
    cx, cy = cam_xy
    xs = np.arange(cx - outer, cx + outer, step) + step / 2
    gx, gy = np.meshgrid(xs, np.arange(cy - outer, cy + outer, step) + step / 2)
    gx, gy = gx.ravel(), gy.ravel()
    d = np.hypot(gx - cx, gy - cy)
    bearing = np.degrees(np.arctan2(gx - cx, gy - cy)) % 360
    off = np.abs((bearing - azimuth + 180) % 360 - 180)
    keep = (d <= outer) & (d >= inner) & ((off <= fov / 2) | (fov >= 360))
    gx, gy = gx[keep], gy[keep]
    start = np.column_stack([np.full(len(gx), cx), np.full(len(gx), cy)])
    lines = shapely.linestrings(np.stack([start, np.column_stack([gx, gy])], axis=1))
    blocked = np.zeros(len(gx), dtype=bool)
    if len(buildings):
        tree = shapely.STRtree(list(buildings))
        li, _ = tree.query(lines, predicate="intersects")
        blocked[li] = True
    return (~blocked).sum() * step * step


def test_support_round_trip():
    g = shapely.box(0, 0, 10, 20)
    back = to_local(to_lonlat(g))
    assert abs(back.area - 200.0) < 1e-6


def hand_radii(cam: dict) -> tuple[float, float]:
    """Outer and blind radius of a camera by the hand formula (16:9, 60° lens when turning)."""
    import math

    turning = cam.get("kind") in ("dome", "ptz") or cam.get("fov", 90) >= 180
    h_fov = 60.0 if turning else cam.get("fov", 90.0)
    v = 2 * math.degrees(math.atan(math.tan(math.radians(h_fov / 2)) * 9 / 16))
    h, t = cam.get("height_m", 0.0), cam.get("tilt", 0.0)
    outer = cam.get("range_m", 50.0)
    if h > 0 and t - v / 2 > 0:
        outer = min(outer, h / math.tan(math.radians(t - v / 2)))
    inner = h / math.tan(math.radians(t + v / 2)) if (h > 0 and t + v / 2 < 90) else 0.0
    return outer, min(inner, outer)


def seen_by_rays(px, py, cams: list[dict], buildings) -> np.ndarray:
    """Independent visibility of points: in some camera's sector and with a clear sight line."""
    px, py = np.asarray(px, float), np.asarray(py, float)
    seen = np.zeros(len(px), dtype=bool)
    tree = shapely.STRtree(list(buildings)) if len(buildings) else None
    for cam in cams:
        if cam.get("status", "online") != "online":
            continue
        outer, inner = hand_radii(cam)
        turning = cam.get("kind") in ("dome", "ptz") or cam.get("fov", 90) >= 360
        d = np.hypot(px - cam["x"], py - cam["y"])
        bearing = np.degrees(np.arctan2(px - cam["x"], py - cam["y"])) % 360
        off = np.abs((bearing - cam.get("azimuth", 0.0) + 180) % 360 - 180)
        cand = (~seen) & (d <= outer) & (d >= inner) & (turning | (off <= cam.get("fov", 90) / 2))
        ix = np.flatnonzero(cand)
        if len(ix) == 0:
            continue
        ok = np.ones(len(ix), dtype=bool)
        if tree is not None:
            start = np.column_stack([np.full(len(ix), cam["x"]), np.full(len(ix), cam["y"])])
            lines = shapely.linestrings(np.stack([start, np.column_stack([px[ix], py[ix]])], 1))
            li, _ = tree.query(lines, predicate="intersects")
            ok[li] = False
        seen[ix[ok]] = True
    return seen

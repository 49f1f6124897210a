"""Cameras one at a time: read, create, update, delete.

Each edit recomputes the camera's view in the same transaction (so the map
never shows a stale view).

Input is a GeoJSON Feature (Point, properties as in ARCHITECTURE.md §4) or a flat object
with ``lon``/``lat``; it is validated by the loader's rules — the same field
specs (``geo.layers``: class aliases 一类/二类/三类 and 1/2/3, kinds, ranges),
GB/T 28181 codes and service area — for one row without a data frame, plus
``resolution_px`` (> 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from geo import audit
from geo.coverage.settings import CoverageSettings
from geo.coverage.views import RefreshReport, refresh_cameras
from geo.errors import Conflict, InvalidInput, NotFound
from geo.settings import ServiceAreaSettings

FIELDS = ("code", "name", "class", "kind", "azimuth", "fov", "range_m", "height_m", "tilt",
          "resolution_px", "status")

_SELECT = """
    SELECT c.id, c.code, c.name, c.class, c.kind, c.azimuth, c.fov, c.range_m, c.height_m, c.tilt,
           c.resolution_px, c.status, c.updated_at, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
           v.area_m2 AS view_area_m2, v.computed_at AS view_computed_at{view}
    FROM cameras AS c LEFT JOIN camera_views AS v ON v.camera_id = c.id
"""


def parse_body(body: Any) -> tuple[dict, shapely.Point | None]:
    """Fields and point (None when absent) from a Feature or a flat object."""
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object (a GeoJSON Feature or fields)")
    if body.get("type") == "Feature":
        props = dict(body.get("properties") or {})
        geom = body.get("geometry")
        point = None
        if geom is not None:
            if not isinstance(geom, dict) or geom.get("type") != "Point":
                raise InvalidInput("a camera's geometry must be a GeoJSON Point")
            try:
                point = shapely.force_2d(shapely.geometry.shape(geom))
            except Exception:
                raise InvalidInput("the camera's Point geometry is malformed") from None
    else:
        props = dict(body)
        point = None
        if "lon" in props or "lat" in props:
            try:
                point = shapely.Point(float(props.pop("lon")), float(props.pop("lat")))
            except (KeyError, TypeError, ValueError):
                raise InvalidInput("lon and lat must both be numbers") from None
    unknown = sorted(set(props) - set(FIELDS) - {"id"})
    if unknown:
        raise InvalidInput(f"unknown camera field(s): {', '.join(unknown)}; "
                           f"allowed: {', '.join(FIELDS)}")
    props.pop("id", None)
    return props, point


def _validate(conn: Connection, fields: dict, point: shapely.Point | None,
              area: ServiceAreaSettings) -> dict:
    """One camera checked by the loader's rules.

    The ``geo.layers`` specs, GB/T 28181 codes and the service area, without
    building a data frame, so an edit stays interactive.
    """
    from geo.io.area import service_area_bbox
    from geo.io.validate import gbt28181_problem
    from geo.layers import get_layer

    if point is None or point.is_empty:
        raise InvalidInput("a camera needs a location (Point geometry or lon/lat)")
    if not (np.isfinite(point.x) and np.isfinite(point.y)):
        raise InvalidInput("the camera's coordinates must be finite numbers")
    spec = get_layer("cameras")
    rec: dict = {}
    for name, fs in spec.fields.items():
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            rec[name] = fs.default
            continue
        rec[name] = _field_value(fs, value)
    if rec.get("code") is not None:
        rec["code"] = str(rec["code"]).strip()
        why = gbt28181_problem(rec["code"])
        if why:
            raise InvalidInput(f"camera code {rec['code']!r} is not a GB/T 28181 code: {why}")
    rec["resolution_px"] = _resolution(fields.get("resolution_px"))
    _check_location(point, service_area_bbox(conn, area))
    rec["wkt"] = point.wkt
    return rec


def _field_value(fs, value):
    """A typed, range-checked value for one field (messages as the loader's)."""
    if fs.kind == "enum":
        got = fs.normalise(value)
        if got is None:
            raise InvalidInput(f"{fs.name} {value!r} is not one of {', '.join(fs.choices)}")
        return got
    if fs.kind in ("float", "int"):
        try:
            num = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{fs.name} {value!r} is not a number") from None
        low_bad = fs.low is not None and (num <= fs.low if fs.low_open else num < fs.low)
        high_bad = fs.high is not None and (num >= fs.high if fs.high_open else num > fs.high)
        if low_bad or high_bad or num != num:
            raise InvalidInput(f"{fs.name} {num:g} is outside {fs.range_text()}")
        return num
    return str(value)


def _resolution(value) -> int | None:
    if value is None:
        return None
    try:
        res = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("resolution_px must be a positive integer") from None
    if res <= 0 or res != float(value) or res > 100_000:
        raise InvalidInput("resolution_px must be a positive integer (horizontal pixels, "
                           "at most 100000)")
    return res


def _check_location(point: shapely.Point, bbox) -> None:
    x0, y0, x1, y1 = bbox

    def inside(u, v):
        return x0 <= u <= x1 and y0 <= v <= y1

    if inside(point.x, point.y):
        return
    if inside(point.y, point.x):
        raise InvalidInput(f"lat/lon swapped? ({point.x:g}, {point.y:g}) is not in the service "
                           f"area but ({point.y:g}, {point.x:g}) is")
    raise InvalidInput(f"({point.x:g}, {point.y:g}) is far outside the service area "
                       f"({x0:g},{y0:g} – {x1:g},{y1:g})")


def _feature(row: dict, with_view: bool = False) -> dict:
    props = {k: row[k] for k in ("id", *FIELDS, "view_area_m2")}
    props["updated_at"] = row["updated_at"].isoformat() if row.get("updated_at") else None
    props["view_computed_at"] = (row["view_computed_at"].isoformat()
                                 if row.get("view_computed_at") else None)
    if with_view:
        wkb = row.get("view_wkb")
        props["view"] = shapely.geometry.mapping(shapely.from_wkb(wkb)) if wkb else None
    return {"type": "Feature", "id": row["id"],
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
            "properties": props}


def get_camera(conn: Connection, camera_id: int, with_view: bool = False) -> dict:
    """One camera as a Feature (``view`` geometry in the properties on request)."""
    sql = _SELECT.format(view=", ST_AsBinary(v.geom) AS view_wkb" if with_view else "")
    row = conn.execute(text(sql + " WHERE c.id = :id"), {"id": int(camera_id)}).mappings().first()
    if row is None:
        raise NotFound(f"camera {camera_id} does not exist")
    return _feature(dict(row), with_view)


def list_cameras(conn: Connection, *, bbox=None, status=None, cls=None, kind=None,
                 limit: int = 1000, offset: int = 0) -> dict:
    """Cameras as a FeatureCollection, filtered, in id order."""
    where, params = ["true"], {"limit": int(limit), "offset": int(offset)}
    if bbox is not None:
        where.append("c.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)")
        params.update(dict(zip(("x0", "y0", "x1", "y1"), map(float, bbox), strict=True)))
    for col, val in (("status", status), ("class", cls), ("kind", kind)):
        if val is not None:
            where.append(f"c.{col} = :{col}")
            params[col] = val
    sql = _SELECT.format(view="") + " WHERE " + " AND ".join(where)
    total = conn.execute(text("SELECT count(*) FROM cameras AS c WHERE " + " AND ".join(where)),
                         params).scalar()
    rows = conn.execute(text(sql + " ORDER BY c.id LIMIT :limit OFFSET :offset"), params)
    feats = [_feature(dict(r)) for r in rows.mappings()]
    return {"type": "FeatureCollection", "features": feats, "numberMatched": int(total),
            "numberReturned": len(feats)}


def _write(conn: Connection, rec: dict, camera_id: int | None) -> int:
    cols = [k for k in FIELDS if k in rec]
    params = {k if k != "class" else "cls": rec[k] for k in cols} | {"wkt": rec["wkt"]}
    names = [f'"{k}"' if k == "class" else k for k in cols]
    values = [f":{'cls' if k == 'class' else k}" for k in cols]
    try:
        if camera_id is None:
            sql = (f"INSERT INTO cameras ({', '.join(names)}, geom) "
                   f"VALUES ({', '.join(values)}, ST_GeomFromText(:wkt, 4326)) RETURNING id")
            return conn.execute(text(sql), params).scalar_one()
        sets = ", ".join(f"{n} = {v}" for n, v in zip(names, values, strict=True))
        sql = (f"UPDATE cameras SET {sets}, geom = ST_GeomFromText(:wkt, 4326), "
               "updated_at = now() WHERE id = :id RETURNING id")
        return conn.execute(text(sql), params | {"id": camera_id}).scalar_one()
    except IntegrityError as exc:
        if "cameras_code_key" in str(exc.orig):
            raise Conflict(f"a camera with code {rec.get('code')} already exists") from None
        raise InvalidInput(f"the camera was refused by the database: {exc.orig}") from None


def create_camera(engine: Engine, body: Any, actor: str = "local", *,
                  settings: CoverageSettings,
                  area: ServiceAreaSettings) -> tuple[dict, RefreshReport]:
    """Validate and insert a camera, compute its view; returns (Feature, refresh report)."""
    fields, point = parse_body(body)
    with engine.begin() as conn:
        rec = _validate(conn, fields, point, area)
        cid = _write(conn, rec, None)
        report = refresh_cameras(engine, [cid], settings, area, conn=conn)
        audit.record(conn, actor, "camera.create", f"cameras/{cid}", _audit_detail(rec))
        return get_camera(conn, cid), report


def update_camera(engine: Engine, camera_id: int, body: Any, actor: str = "local", *,
                  settings: CoverageSettings,
                  area: ServiceAreaSettings) -> tuple[dict, RefreshReport]:
    """Change a camera (fields not given keep their values) and recompute its view."""
    fields, point = parse_body(body)
    with engine.begin() as conn:
        current = get_camera(conn, camera_id)
        merged = {k: current["properties"][k] for k in FIELDS} | fields
        moved = point is not None
        point = point or shapely.Point(current["geometry"]["coordinates"])
        rec = _validate(conn, merged, point, area)
        _write(conn, rec, int(camera_id))
        report = refresh_cameras(engine, [int(camera_id)], settings, area, conn=conn)
        changed = {k: rec.get(k) for k in fields} | ({"wkt": rec["wkt"]} if moved else {})
        audit.record(conn, actor, "camera.update", f"cameras/{camera_id}", _audit_detail(changed))
        return get_camera(conn, camera_id), report


def delete_camera(engine: Engine, camera_id: int, actor: str = "local") -> None:
    """Delete a camera (its view goes with it)."""
    with engine.begin() as conn:
        gone = conn.execute(text("DELETE FROM cameras WHERE id = :id RETURNING code"),
                            {"id": int(camera_id)}).first()
        if gone is None:
            raise NotFound(f"camera {camera_id} does not exist")
        audit.record(conn, actor, "camera.delete", f"cameras/{camera_id}", {"code": gone[0]})


def _audit_detail(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if v is not None}

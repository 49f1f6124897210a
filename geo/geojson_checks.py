"""Strict checks of GeoJSON from requests (RFC 7946), with messages that say where.

Every problem raises :class:`geo.errors.InvalidGeometry` (or ``InvalidInput``
for JSON that is not GeoJSON at all) naming the place: ``features[3].geometry:
Polygon ring 0 is not closed``. Checked: JSON syntax, object types, the
geometry types a caller allows, positions (2 or 3 finite numbers, lon within
±180, lat within ±90), enough positions per line and ring, closed rings, and
validity (self-intersections, via GEOS) for the whole batch at once.

Examples
--------
>>> point = {"type": "Point", "coordinates": [118.05, 36.8]}
>>> geoms, props = features_of({"type": "Feature", "geometry": point, "properties": {"n": 1}},
...                            allowed={"Point"})
>>> geoms[0].wkt, props
('POINT (118.05 36.8)', [{'n': 1}])
>>> far = {"type": "Point", "coordinates": [218.05, 36.8]}
>>> features_of({"type": "FeatureCollection",
...              "features": [{"type": "Feature", "geometry": far, "properties": None}]})
Traceback (most recent call last):
...
geo.errors.InvalidGeometry: features[0].geometry: longitude 218.05 out of range -180..180
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import orjson
import shapely
from shapely.geometry import shape

from geo.errors import InvalidGeometry, InvalidInput

GEOMETRY_TYPES = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString",
                            "Polygon", "MultiPolygon", "GeometryCollection"})
# Nesting depth of "coordinates" per type: 0 = one position.
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2,
          "Polygon": 2, "MultiPolygon": 3}
_REASON = re.compile(r"^(?P<what>[^\[]+)\[(?P<x>[-\d.eE+]+) (?P<y>[-\d.eE+]+)\]")


def parse_json(body: bytes | str, what: str = "request body") -> Any:
    """Parse JSON; a syntax error says where (line and column)."""
    if isinstance(body, str):
        body = body.encode()
    if not body.strip():
        raise InvalidInput(f"{what} is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno}") from None


def _position(pos: Any, where: str) -> None:
    if not isinstance(pos, list) or len(pos) not in (2, 3):
        raise InvalidGeometry(f"{where}: a position must be [lon, lat] or [lon, lat, z], "
                              f"got {_short(pos)}")
    for v in pos:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InvalidGeometry(f"{where}: coordinates must be finite numbers, got {_short(v)}")
    lon, lat = pos[0], pos[1]
    if not -180 <= lon <= 180:
        raise InvalidGeometry(f"{where}: longitude {lon} out of range -180..180")
    if not -90 <= lat <= 90:
        raise InvalidGeometry(f"{where}: latitude {lat} out of range -90..90")


def _positions(seq: Any, where: str, minimum: int, what: str) -> None:
    if not isinstance(seq, list):
        raise InvalidGeometry(f"{where}: {what} must be an array of positions")
    if len(seq) < minimum:
        raise InvalidGeometry(f"{where}: {what} needs at least {minimum} positions, has {len(seq)}")
    for p in seq:
        _position(p, where)


def _ring(ring: Any, where: str, index: int) -> None:
    _positions(ring, where, 4, f"Polygon ring {index}")
    if ring[0][:2] != ring[-1][:2]:
        raise InvalidGeometry(f"{where}: Polygon ring {index} is not closed (first position "
                              f"{ring[0][:2]} differs from last {ring[-1][:2]})")


def _polygon(rings: Any, where: str) -> None:
    if not isinstance(rings, list) or not rings:
        raise InvalidGeometry(f"{where}: a Polygon needs at least one ring")
    for i, ring in enumerate(rings):
        _ring(ring, where, i)


def _coordinates(kind: str, coords: Any, where: str) -> None:
    if kind == "Point":
        _position(coords, where)
    elif kind == "MultiPoint":
        _positions(coords, where, 1, "MultiPoint")
    elif kind == "LineString":
        _positions(coords, where, 2, "LineString")
    elif kind == "MultiLineString":
        _parts(coords, where, "MultiLineString")
        for line in coords:
            _positions(line, where, 2, "each LineString")
    elif kind == "Polygon":
        _polygon(coords, where)
    else:  # MultiPolygon
        _parts(coords, where, "MultiPolygon")
        for poly in coords:
            _polygon(poly, where)


def _parts(coords: Any, where: str, kind: str) -> None:
    if not isinstance(coords, list) or not coords:
        raise InvalidGeometry(f"{where}: a {kind} needs at least one part")


def check_structure(obj: Any, allowed: Iterable[str] | None = None,
                    where: str = "geometry") -> None:
    """Check one GeoJSON geometry object's type, nesting and positions (not validity)."""
    if not isinstance(obj, dict):
        raise InvalidGeometry(f"{where}: expected a GeoJSON geometry object, got {_short(obj)}")
    kind = obj.get("type")
    if kind not in GEOMETRY_TYPES:
        raise InvalidGeometry(f"{where}: unknown geometry type {_short(kind)}")
    allowed = frozenset(allowed) if allowed is not None else GEOMETRY_TYPES
    if kind not in allowed:
        raise InvalidGeometry(f"{where}: geometry type {kind} not accepted here; "
                              f"expected {' or '.join(sorted(allowed))}")
    if kind == "GeometryCollection":
        parts = obj.get("geometries")
        if not isinstance(parts, list) or not parts:
            raise InvalidGeometry(f"{where}: a GeometryCollection needs a non-empty "
                                  "'geometries' array")
        for i, g in enumerate(parts):
            check_structure(g, GEOMETRY_TYPES - {"GeometryCollection"}, f"{where}.geometries[{i}]")
        return
    if "coordinates" not in obj:
        raise InvalidGeometry(f"{where}: a {kind} needs 'coordinates'")
    _coordinates(kind, obj["coordinates"], where)


def check_validity(geoms: Sequence[Any], wheres: Sequence[str]) -> None:
    """Raise for the first invalid geometry (self-intersection, bad ring) of a batch."""
    arr = np.asarray(geoms, dtype=object)
    if arr.size == 0:
        return
    valid = shapely.is_valid(arr)
    if valid.all():
        return
    i = int(np.flatnonzero(~valid)[0])
    reason = shapely.is_valid_reason(arr[i])
    m = _REASON.match(reason)
    if m:
        what = m.group("what").strip().lower()
        reason = f"{what} at ({float(m.group('x')):.7g}, {float(m.group('y')):.7g})"
    raise InvalidGeometry(f"{wheres[i]}: invalid geometry: {reason}")


def check_feature(obj: Any, allowed: Iterable[str] | None = None,
                  where: str = "feature") -> tuple[Any, dict]:
    """Check a Feature's shape (not geometry validity); return (geometry dict, properties)."""
    if not isinstance(obj, dict) or obj.get("type") != "Feature":
        got = obj.get("type") if isinstance(obj, dict) else obj
        raise InvalidGeometry(f"{where}: expected a GeoJSON Feature, got {_short(got)}")
    geometry = obj.get("geometry")
    if geometry is None:
        raise InvalidGeometry(f"{where}: the feature has no geometry")
    check_structure(geometry, allowed, f"{where}.geometry")
    props = obj.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise InvalidGeometry(f"{where}.properties: must be an object or null")
    return geometry, props


def features_of(obj: Any, allowed: Iterable[str] | None = None,
                max_features: int | None = None) -> tuple[list[Any], list[dict]]:
    """Check a Feature or FeatureCollection; return (shapely geometries, properties).

    Raises
    ------
    InvalidGeometry
        For the first bad feature, naming it (``features[i]``).
    """
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        items, prefix = [obj], "feature"
    elif isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
        items = obj.get("features")
        if not isinstance(items, list):
            raise InvalidGeometry("FeatureCollection: 'features' must be an array")
        prefix = "features"
    else:
        got = obj.get("type") if isinstance(obj, dict) else type(obj).__name__
        raise InvalidGeometry(f"expected a GeoJSON Feature or FeatureCollection, got {_short(got)}")
    if max_features is not None and len(items) > max_features:
        raise InvalidInput(f"too many features: {len(items)} > {max_features} per request")
    wheres = ["feature" if prefix == "feature" else f"features[{i}]" for i in range(len(items))]
    geoms, props = [], []
    for item, where in zip(items, wheres, strict=True):
        g, p = check_feature(item, allowed, where)
        geoms.append(shape(g))
        props.append(p)
    check_validity(geoms, [f"{w}.geometry" for w in wheres])
    return geoms, props


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."

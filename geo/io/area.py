"""The service area a load is checked against ("far outside", "lat/lon swapped").

Order of preference: the extent of ``admin_areas`` buffered by
``ServiceAreaSettings.outside_tolerance_m``; else ``ServiceAreaSettings.service_bbox``;
else mainland China (73–135°E, 18–54°N).
"""

from __future__ import annotations

import math

from sqlalchemy import Connection, Engine, text

from geo.io.validate import CHINA_BBOX
from geo.settings import ServiceAreaSettings

_M_PER_DEG = 111_320.0

Bbox = tuple[float, float, float, float]


def buffer_bbox(bbox: Bbox, metres: float) -> Bbox:
    """Grow a lon/lat box by ``metres`` on every side (longitude scaled at its widest latitude)."""
    x0, y0, x1, y1 = bbox
    dy = metres / _M_PER_DEG
    widest = max(abs(y0), abs(y1))
    dx = metres / (_M_PER_DEG * max(math.cos(math.radians(min(widest + dy, 89.0))), 1e-6))
    return (max(x0 - dx, -180.0), max(y0 - dy, -90.0), min(x1 + dx, 180.0), min(y1 + dy, 90.0))


def admin_extent(conn: Connection | Engine) -> Bbox | None:
    """Extent of all admin areas, or None when there are none."""
    sql = text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
        "FROM (SELECT ST_Extent(geom) AS e FROM admin_areas) s"
    )
    if isinstance(conn, Engine):
        with conn.connect() as c:
            row = c.execute(sql).one()
    else:
        row = conn.execute(sql).one()
    return None if row[0] is None else tuple(float(v) for v in row)


def service_area_bbox(conn: Connection | Engine, area: ServiceAreaSettings) -> Bbox:
    """The box points must fall in (see the module docstring)."""
    extent = admin_extent(conn)
    if extent is not None:
        return buffer_bbox(extent, area.outside_tolerance_m)
    if area.service_bbox is not None:
        return tuple(area.service_bbox)
    return CHINA_BBOX

"""The metric CRS of coverage work (reprojection itself is :class:`geo.crs.Projector`).

The CRS is ``ServiceAreaSettings.metric_epsg`` when set, otherwise the UTM zone
(WGS 84, north or south) of the centre of the service area: the admin areas'
extent, else the cameras' extent, else the given fallback point. One database
always gets the same zone, so incremental and full refreshes agree.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from geo.crs import utm_epsg
from geo.settings import ServiceAreaSettings

_CENTRE_SQL = text(
    """
    SELECT ST_X(c), ST_Y(c)
    FROM (SELECT coalesce(
            (SELECT ST_Centroid(ST_Extent(geom)::geometry) FROM admin_areas),
            (SELECT ST_Centroid(ST_Extent(geom)::geometry) FROM cameras)) AS c) AS q
    """
)


def metric_epsg(conn: Connection, area: ServiceAreaSettings,
                fallback: tuple[float, float] | None = None) -> int:
    """The EPSG code to do metric work in for this database."""
    if area.metric_epsg:
        return area.metric_epsg
    if area.service_bbox:
        x0, y0, x1, y1 = area.service_bbox
        return utm_epsg((x0 + x1) / 2, (y0 + y1) / 2)
    row = conn.execute(_CENTRE_SQL).first()
    if row and row[0] is not None:
        return utm_epsg(row[0], row[1])
    if fallback is not None:
        return utm_epsg(*fallback)
    return utm_epsg(118.05, 36.80)

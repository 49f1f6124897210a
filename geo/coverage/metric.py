"""The metric CRS of coverage work and vectorised reprojection of shapely arrays.

The CRS is ``ServiceAreaSettings.metric_epsg`` when set, otherwise the UTM zone
(WGS 84, north or south) of the centre of the service area: the admin areas'
extent, else the cameras' extent, else the given fallback point. One database
always gets the same zone, so incremental and full refreshes agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer
from sqlalchemy import Connection, text

from geo.settings import ServiceAreaSettings

_CENTRE_SQL = text(
    """
    SELECT ST_X(c), ST_Y(c)
    FROM (SELECT coalesce(
            (SELECT ST_Centroid(ST_Extent(geom)::geometry) FROM admin_areas),
            (SELECT ST_Centroid(ST_Extent(geom)::geometry) FROM cameras)) AS c) AS q
    """
)


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone holding (lon, lat).

    Examples
    --------
    >>> utm_epsg(118.05, 36.80)
    32650
    """
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


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


@dataclass(frozen=True)
class Projector:
    """Reprojects shapely arrays between lon/lat (EPSG:4326) and a metric CRS."""

    epsg: int

    def _tr(self, inverse: bool) -> Transformer:
        src, dst = (self.epsg, 4326) if inverse else (4326, self.epsg)
        return Transformer.from_crs(src, dst, always_xy=True)

    def to_metric(self, geoms) -> np.ndarray:
        """Lon/lat geometries → metric."""
        return self._apply(geoms, self._tr(False))

    def to_lonlat(self, geoms) -> np.ndarray:
        """Metric geometries → lon/lat."""
        return self._apply(geoms, self._tr(True))

    def xy_to_metric(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Point coordinates lon/lat → metric x, y."""
        return self._tr(False).transform(np.asarray(lon, float), np.asarray(lat, float))

    def xy_to_lonlat(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Point coordinates metric → lon/lat."""
        return self._tr(True).transform(np.asarray(x, float), np.asarray(y, float))

    @staticmethod
    def _apply(geoms, tr: Transformer) -> np.ndarray:
        geoms = np.asarray(geoms, dtype=object)

        def fn(xy: np.ndarray) -> np.ndarray:
            if len(xy) == 0:
                return xy
            x, y = tr.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geoms, fn)

"""Lon/lat ↔ metres for grid planning (UTM zone of the service area by default)."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer

from geo.settings import ServiceAreaSettings


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone holding ``(lon, lat)``.

    Examples
    --------
    >>> utm_epsg(118.05, 36.8)
    32650
    """
    zone = int((lon + 180) // 6) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


class Projector:
    """Transform shapely geometries between EPSG:4326 and a metric CRS.

    Examples
    --------
    >>> p = Projector(32650)
    >>> pt = p.inverse(p.forward(shapely.points([118.05, 36.8])))
    >>> bool(abs(pt.x - 118.05) < 1e-9)
    True
    """

    def __init__(self, epsg: int):
        self.epsg = epsg
        self._fwd = Transformer.from_crs(4326, epsg, always_xy=True)
        self._inv = Transformer.from_crs(epsg, 4326, always_xy=True)

    @classmethod
    def for_area(
        cls, lon: float, lat: float, settings: ServiceAreaSettings
    ) -> Projector:
        """The configured metric CRS (``ONEMAP_METRIC_EPSG``) or the UTM zone at ``(lon, lat)``."""
        return cls(settings.metric_epsg or utm_epsg(lon, lat))

    def forward(self, geoms):
        """Lon/lat → metres."""
        return shapely.transform(
            geoms, lambda xy: np.column_stack(self._fwd.transform(xy[:, 0], xy[:, 1]))
        )

    def inverse(self, geoms):
        """Metres → lon/lat."""
        return shapely.transform(
            geoms, lambda xy: np.column_stack(self._inv.transform(xy[:, 0], xy[:, 1]))
        )

"""Coordinate reference systems: EPSG codes via pyproj, and the Chinese map offsets.

GCJ-02 ("Mars coordinates", used by 高德/AMap and 腾讯/Tencent) is WGS84 shifted by
the published GB 20263 obfuscation polynomial on the Krasovsky ellipsoid; BD-09
(百度/Baidu) is GCJ-02 with a further small polar distortion. The forward
transforms (WGS84 → GCJ-02 → BD-09) are closed formulas. Their inverses have no
closed form, so they are solved by fixed-point iteration against the forward
transform until the residual is below ``1e-10``° (≈ 0.01 mm): the inverse is
accurate to far better than the 0.5 m the product needs.

Everything works on numpy arrays; geometries are converted with
``shapely.transform`` so any geometry type keeps its structure.

Examples
--------
>>> import numpy as np
>>> lon, lat = wgs84_to_gcj02(np.array([116.404]), np.array([39.915]))
>>> back = gcj02_to_wgs84(lon, lat)
>>> bool(abs(back[0][0] - 116.404) < 1e-9)
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geo.errors import InvalidInput
from geo.options import option

# Krasovsky 1940 ellipsoid, as the GCJ-02 formula uses it.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0
_TOL_DEG = 1e-10
_MAX_ITER = 30

WGS84 = CRS.from_epsg(4326)
OFFSET_CRS = ("gcj02", "bd09")
_ALIASES = {
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "amap": "gcj02", "高德": "gcj02",
    "腾讯": "gcj02", "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09",
    "百度": "bd09", "wgs84": "EPSG:4326", "cgcs2000": "EPSG:4326",
}
# EPSG codes treated as plain WGS84 lon/lat (CGCS2000 differs by centimetres).
_AS_WGS84 = {4326, 4490}


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Where the offset is not applied (the published formula's bounding box)."""
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _delta_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02 (the forward, closed-form offset).

    Parameters
    ----------
    lon, lat : array_like
        Degrees. Points outside China are returned unchanged.

    Returns
    -------
    tuple of numpy.ndarray
        GCJ-02 longitude and latitude.
    """
    lon, lat = _arrays(lon, lat)
    x, y = lon - 105.0, lat - 35.0
    dlat, dlon = _delta_lat(x, y), _delta_lon(x, y)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    out = _out_of_china(lon, lat)
    return np.where(out, lon, lon + dlon), np.where(out, lat, lat + dlat)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09 (closed form)."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_guess(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(forward: Callable, lon: np.ndarray, lat: np.ndarray, guess=None):
    """Solve ``forward(p) = (lon, lat)`` for p by fixed-point iteration."""
    px, py = guess if guess is not None else (lon.copy(), lat.copy())
    for _ in range(_MAX_ITER):
        fx, fy = forward(px, py)
        ex, ey = fx - lon, fy - lat
        px, py = px - ex, py - ey
        if not len(lon) or max(np.nanmax(np.abs(ex)), np.nanmax(np.abs(ey))) < _TOL_DEG:
            break
    return px, py


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS84, iterated until the forward transform reproduces the input.

    Examples
    --------
    >>> import numpy as np
    >>> g = wgs84_to_gcj02(np.array([118.05]), np.array([36.8]))
    >>> w = gcj02_to_wgs84(*g)
    >>> bool(abs(w[1][0] - 36.8) < 1e-9)
    True
    """
    lon, lat = _arrays(lon, lat)
    return _invert(wgs84_to_gcj02, np.atleast_1d(lon), np.atleast_1d(lat))


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02, iterated against :func:`gcj02_to_bd09`."""
    lon, lat = (np.atleast_1d(a) for a in _arrays(lon, lat))
    return _invert(gcj02_to_bd09, lon, lat, guess=_bd09_to_gcj02_guess(lon, lat))


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → WGS84 (both inverses iterated)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}


@dataclass(frozen=True)
class SourceCrs:
    """A parsed ``--crs`` value: either an offset system or a pyproj CRS."""

    offset: str | None = None
    crs: CRS | None = None

    @property
    def is_wgs84(self) -> bool:
        """True when coordinates are already WGS84 lon/lat."""
        return self.offset is None and (self.crs is None or self.crs.to_epsg() in _AS_WGS84)

    def label(self) -> str:
        """A short name for messages."""
        if self.offset:
            return self.offset
        epsg = self.crs.to_epsg() if self.crs is not None else 4326
        return f"EPSG:{epsg}" if epsg else self.crs.name


def parse_crs(value: str | int | CRS | None) -> SourceCrs | None:
    """Parse ``--crs``: an EPSG code (``4326``, ``EPSG:3857``), ``gcj02`` or ``bd09``.

    EPSG:4490 (CGCS2000) is treated as EPSG:4326.

    Raises
    ------
    InvalidInput
        When the value names no known CRS.
    """
    if value is None or value == "":
        return None
    if isinstance(value, CRS):
        crs = value
    else:
        text = str(value).strip()
        alias = _ALIASES.get(text.lower())
        if alias in OFFSET_CRS:
            return SourceCrs(offset=alias)
        text = alias or text
        if text.isdigit():
            text = f"EPSG:{text}"
        try:
            crs = CRS.from_user_input(text)
        except CRSError:
            raise InvalidInput(
                f"unknown CRS {value!r}: give an EPSG code (e.g. 4326, EPSG:4549), gcj02 or bd09"
            ) from None
    if crs.to_epsg() in _AS_WGS84:
        return SourceCrs(crs=WGS84)
    return SourceCrs(crs=crs)


def _apply(geoms: np.ndarray, func: Callable) -> np.ndarray:
    def on_coords(xy: np.ndarray) -> np.ndarray:
        x, y = func(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, on_coords)


def geometries_to_wgs84(geoms: np.ndarray, offset: str) -> np.ndarray:
    """Convert an array of GCJ-02 or BD-09 geometries to WGS84."""
    return _apply(np.asarray(geoms, dtype=object), _TO_WGS84[offset])


def geometries_from_wgs84(geoms: np.ndarray, offset: str) -> np.ndarray:
    """Convert an array of WGS84 geometries to GCJ-02 or BD-09."""
    return _apply(np.asarray(geoms, dtype=object), _FROM_WGS84[offset])


def to_wgs84(frame, source: SourceCrs | None):
    """Reproject a GeoDataFrame to EPSG:4326.

    ``source`` (from ``--crs``) overrides what the file declares: files with
    GCJ-02 coordinates usually claim to be WGS84. Without either, coordinates
    are taken as WGS84 lon/lat unless they cannot be degrees.
    """
    import geopandas as gpd

    if source is not None and source.offset:
        geoms = geometries_to_wgs84(frame.geometry.values, source.offset)
        return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=WGS84)).set_crs(
            WGS84, allow_override=True
        )
    crs = source.crs if source is not None else frame.crs
    if crs is None or crs.to_epsg() in _AS_WGS84:
        _check_degrees(frame)
        return frame.set_crs(WGS84, allow_override=True)
    return frame.set_crs(crs, allow_override=True).to_crs(WGS84)


def _check_degrees(frame) -> None:
    """Refuse coordinates that cannot be degrees (projected metres with no CRS given).

    Up to 360 passes here: swapped lat/lon is caught later, row by row.
    """
    if frame.empty:
        return
    b = frame.geometry.bounds.abs().to_numpy()
    if (b > 360).any():
        raise InvalidInput(
            "coordinates are not degrees (values over 360): the file has no CRS; "
            f"give the projected one with {option('crs')} EPSG:<code>"
        )


def from_wgs84(frame, target: SourceCrs | None):
    """Reproject a GeoDataFrame in EPSG:4326 to ``target`` (for export)."""
    import geopandas as gpd

    if target is None or target.is_wgs84:
        return frame
    if target.offset:
        geoms = geometries_from_wgs84(frame.geometry.values, target.offset)
        # The offset systems have no EPSG code; keep the lon/lat label.
        return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=WGS84))
    return frame.to_crs(target.crs)


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 UTM zone (north or south) holding ``(lon, lat)``.

    Examples
    --------
    >>> utm_epsg(118.05, 36.80)
    32650
    >>> utm_epsg(-0.5, -10.0)
    32730
    """
    zone = int((float(lon) + 180.0) // 6.0) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class Projector:
    """Vectorised reprojection between lon/lat (EPSG:4326) and one metric CRS.

    One geometry or an array of them (a GeoSeries too); each keeps its structure
    (``shapely.transform``).
    A GeoSeries or GeoDataFrame geometry that declares a CRS other than the one
    a method expects is refused, never silently reprojected twice.

    Parameters
    ----------
    epsg : int
        The metric CRS (e.g. a UTM zone, :func:`utm_epsg`).

    Examples
    --------
    >>> p = Projector(32650)
    >>> pt = p.to_lonlat(p.to_metric(shapely.points([118.05, 36.8])))
    >>> bool(abs(pt.x - 118.05) < 1e-9)
    True
    >>> x, y = p.xy_to_metric([118.05], [36.8])
    >>> bool(abs(p.xy_to_lonlat(x, y)[1][0] - 36.8) < 1e-9)
    True
    """

    epsg: int

    @classmethod
    def for_area(cls, lon: float, lat: float, metric_epsg: int | None = None) -> Projector:
        """The configured metric CRS (``metric_epsg``) or else the UTM zone at ``(lon, lat)``."""
        return cls(int(metric_epsg) if metric_epsg else utm_epsg(lon, lat))

    @cached_property
    def _forward(self) -> Transformer:
        return Transformer.from_crs(4326, self.epsg, always_xy=True)

    @cached_property
    def _inverse(self) -> Transformer:
        return Transformer.from_crs(self.epsg, 4326, always_xy=True)

    def to_metric(self, geoms):
        """Lon/lat geometries (one, or an array) → metric geometries."""
        return self._apply(geoms, 4326, self._forward)

    def to_lonlat(self, geoms):
        """Metric geometries (one, or an array) → lon/lat geometries."""
        return self._apply(geoms, self.epsg, self._inverse)

    def xy_to_metric(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Point coordinates lon/lat → metric x, y."""
        return self._forward.transform(np.asarray(lon, float), np.asarray(lat, float))

    def xy_to_lonlat(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Point coordinates metric x, y → lon/lat."""
        return self._inverse.transform(np.asarray(x, float), np.asarray(y, float))

    @staticmethod
    def _apply(geoms, expected: int, tr: Transformer):
        declared = getattr(geoms, "crs", None)
        if declared is not None and CRS.from_user_input(declared) != CRS.from_epsg(expected):
            raise InvalidInput(f"CRS mismatch: geometries in {CRS.from_user_input(declared)}, "
                               f"expected EPSG:{expected}; reproject them first")
        if not isinstance(geoms, shapely.Geometry):
            geoms = np.asarray(getattr(geoms, "values", geoms), dtype=object)

        def on_coords(xy: np.ndarray) -> np.ndarray:
            if len(xy) == 0:
                return xy
            x, y = tr.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geoms, on_coords)

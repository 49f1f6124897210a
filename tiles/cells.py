r"""H3 cells as tile polygons: boundaries in EPSG:3857, vectorised with shapely 2.

Used where a layer shows aggregates instead of raw points (incidents for the
``widget`` role, hotspots). Cells are selected when they touch the buffered tile;
``ST_AsMVTGeom`` clips them.

Examples
--------
>>> import h3
>>> cell = h3.str_to_int(h3.latlng_to_cell(36.8, 118.05, 9))
>>> wkb = cell_polygons_3857([cell])
>>> len(wkb), wkb[0][:1]
(1, b'\x01')
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import h3
import numpy as np
import shapely

from tiles.sql import ORIGIN

EARTH_RADIUS = 6378137.0


def lonlat_to_3857(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spherical Web Mercator of degrees (the formula of EPSG:3857)."""
    x = np.radians(lon) * EARTH_RADIUS
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * EARTH_RADIUS
    return x, y


def cell_polygons(cells: Sequence[int]) -> np.ndarray:
    """Shapely polygons (EPSG:3857) of H3 cells given as integers."""
    rings = [h3.cell_to_boundary(h3.int_to_str(int(c))) for c in cells]
    if not rings:
        return np.empty(0, dtype=object)
    sizes = np.fromiter((len(r) + 1 for r in rings), dtype=np.intp, count=len(rings))
    latlng = np.array([p for r in rings for p in (*r, r[0])], dtype=float)
    x, y = lonlat_to_3857(latlng[:, 1], latlng[:, 0])
    index = np.repeat(np.arange(len(rings)), sizes)
    return shapely.polygons(shapely.linearrings(np.column_stack([x, y]), indices=index))


def cell_polygons_3857(cells: Sequence[int]) -> list[bytes]:
    """WKB (EPSG:3857) of H3 cells given as integers."""
    return list(shapely.to_wkb(cell_polygons(cells)))


def tile_bounds(z: int, x: int, y: int, margin: float = 0.0) -> tuple[float, float, float, float]:
    """Web Mercator bounds of a tile, grown by ``margin`` tile widths on each side."""
    size = 2 * ORIGIN / (1 << z)
    pad = margin * size
    x0 = -ORIGIN + x * size
    y1 = ORIGIN - y * size
    return x0 - pad, y1 - size - pad, x0 + size + pad, y1 + pad


def touching(polygons: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    """Mask of polygons that intersect ``bounds``."""
    if len(polygons) == 0:
        return np.zeros(0, dtype=bool)
    return shapely.intersects(polygons, shapely.box(*bounds))


def widget_res(z: int, finest: int = 9) -> int:
    """H3 resolution of aggregated cells at zoom ``z`` (≈ 10–40 px per cell).

    Never coarser than res 6, the coarsest resolution whose exact cell each
    incident stores (:mod:`geo.h3cells`).
    """
    return max(6, min(finest, z - 4))


def reach_m(res: int, lat: float) -> float:
    """Web Mercator distance covering a cell's diameter at latitude ``lat`` (with slack)."""
    edge = h3.average_hexagon_edge_length(res, unit="m")
    return 3.0 * edge / max(math.cos(math.radians(lat)), 0.05)


def tile_centre_lat(z: int, y: int) -> float:
    """Latitude of a tile's centre (degrees)."""
    n = math.pi - 2 * math.pi * (y + 0.5) / (1 << z)
    return math.degrees(math.atan(math.sinh(n)))

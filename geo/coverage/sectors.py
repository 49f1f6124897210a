"""Sector polygons (a wedge of a disc, or an annulus piece) for arrays of cameras.

Coordinates are metric (x east, y north); azimuths are compass bearings in
degrees, clockwise from north. Arcs are drawn with ``n_arc`` straight segments,
so a polygon's area falls short of the true sector by about ``δ²/6`` with
``δ`` the angle of one segment (0.005 % for a 90° sector with 96 segments).
"""

from __future__ import annotations

import numpy as np
import shapely


def _arc(x, y, azimuth, fov, radius, n_arc: int, reverse: bool = False) -> np.ndarray:
    """Points of each camera's arc, shape (n, n_arc + 1, 2)."""
    steps = np.linspace(0.0, 1.0, n_arc + 1)
    if reverse:
        steps = steps[::-1]
    bearing = np.radians(azimuth[:, None] - fov[:, None] / 2 + fov[:, None] * steps[None, :])
    px = x[:, None] + radius[:, None] * np.sin(bearing)
    py = y[:, None] + radius[:, None] * np.cos(bearing)
    return np.stack([px, py], axis=-1)


def _close(ring: np.ndarray) -> np.ndarray:
    return np.concatenate([ring, ring[:, :1]], axis=1)


def sectors(x, y, azimuth, fov, outer, inner=None, n_arc: int = 96) -> np.ndarray:
    """The ground each camera faces: the sector between ``inner`` and ``outer``.

    Parameters
    ----------
    x, y : array_like
        Camera positions, metres.
    azimuth, fov : array_like
        Bearing of the view axis and horizontal field of view, degrees;
        ``fov`` ≥ 360 gives the full circle (annulus when ``inner`` > 0).
    outer, inner : array_like
        Outer and inner radius, metres (``inner`` defaults to 0).
    n_arc : int
        Segments per arc.

    Returns
    -------
    ndarray of shapely Polygons (None where ``outer`` ≤ ``inner``).

    Examples
    --------
    >>> import numpy as np
    >>> g = sectors([0.0], [0.0], [0.0], [90.0], [10.0])
    >>> round(float(g[0].area / (np.pi * 100 / 4)), 4)
    1.0
    """
    x, y, azimuth, fov, outer = (np.asarray(a, dtype=float) for a in (x, y, azimuth, fov, outer))
    n = len(x)
    inner = np.zeros(n) if inner is None else np.asarray(inner, dtype=float)
    fov = np.minimum(fov, 360.0)
    out = np.full(n, None, dtype=object)
    live = outer > inner
    full = live & (fov >= 360.0)
    part = live & ~full
    for mask, hole in ((full & (inner > 0), True), (full & (inner <= 0), False)):
        if not mask.any():
            continue
        ix = np.flatnonzero(mask)
        args = (x[ix], y[ix], azimuth[ix], np.full(len(ix), 360.0))
        shell = shapely.linearrings(_arc(*args, outer[ix], n_arc)[:, :-1])
        holes = None
        if hole:
            ring = _arc(*args, inner[ix], n_arc, reverse=True)[:, :-1]
            holes = shapely.linearrings(ring)[:, None]
        out[ix] = shapely.polygons(shell, holes)
    for mask, annular in ((part & (inner > 0), True), (part & (inner <= 0), False)):
        if not mask.any():
            continue
        ix = np.flatnonzero(mask)
        args = (x[ix], y[ix], azimuth[ix], fov[ix])
        far = _arc(*args, outer[ix], n_arc)
        if annular:
            near = _arc(*args, inner[ix], max(4, n_arc // 4), reverse=True)
        else:
            near = np.stack([x[ix], y[ix]], axis=-1)[:, None, :]
        out[ix] = shapely.polygons(_close(np.concatenate([far, near], axis=1)))
    return out

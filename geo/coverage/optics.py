"""Camera optics: how far and how near a camera sees on the ground.

Pure numpy on arrays of cameras; angles in degrees, distances in metres.

The model
---------
A camera at height ``h`` is tilted ``t`` degrees below the horizontal. Its
vertical field of view ``v`` is taken from the horizontal ``fov`` and the image
aspect ratio ``a`` (16:9 unless told): ``v = 2·atan(tan(fov/2) / a)``. Dome and
PTZ cameras (or any ``fov`` ≥ 180°) turn around; their lens is taken to have
``lens_fov`` (60° unless told) for the vertical angle and the pixel density.

* The lowest ray leaves the camera ``t + v/2`` below the horizontal and meets
  the ground at ``h / tan(t + v/2)``; the ground nearer than that — the *blind
  strip* under the camera — is not seen (no blind strip when ``t + v/2`` ≥ 90°
  or ``h`` = 0).
* When ``t > v/2`` the highest ray meets the ground too, at ``h / tan(t − v/2)``
  (the *horizon limit*); nothing farther is seen.
* With a resolution (horizontal pixels ``p``) and a detail level of
  IEC 62676-4 (pixels per metre ``d``: detect 25, observe 62.5, recognise 125,
  identify 250), the scene is ``2·r·tan(fov/2)`` wide at distance ``r``, so the
  level is held up to ``p / (2·d·tan(fov/2))``.

The range used is the smallest of ``range_m``, the horizon limit and the detail
range.
"""

from __future__ import annotations

import numpy as np

#: Pixels per metre for each detail level of IEC 62676-4.
DETAIL_PPM: dict[str, float] = {
    "detect": 25.0,
    "observe": 62.5,
    "recognise": 125.0,
    "identify": 250.0,
}

#: Camera kinds that turn around (their sector is the full circle).
TURNING_KINDS = ("dome", "ptz")


def lens_hfov(fov, lens_fov: float = 60.0) -> np.ndarray:
    """Horizontal angle of the lens: ``fov``, or ``lens_fov`` for turning cameras."""
    fov = np.asarray(fov, dtype=float)
    return np.where(fov >= 180.0, lens_fov, fov)


def vertical_fov(fov, aspect: float = 16 / 9, lens_fov: float = 60.0) -> np.ndarray:
    """Vertical field of view (degrees) from the horizontal one and the aspect ratio.

    Examples
    --------
    >>> round(float(vertical_fov(90.0)), 4)
    58.7155
    """
    half = np.radians(lens_hfov(fov, lens_fov)) / 2
    return np.degrees(2 * np.arctan(np.tan(half) / aspect))


def blind_radius(height_m, tilt, vfov) -> np.ndarray:
    """Radius of the ground disc under the camera that it does not see.

    Examples
    --------
    >>> round(float(blind_radius(6.0, 30.0, 30.0)), 6)
    6.0
    """
    height = np.asarray(height_m, dtype=float)
    lowest = np.radians(np.asarray(tilt, dtype=float) + np.asarray(vfov, dtype=float) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = height / np.tan(lowest)
    return np.where((lowest < np.pi / 2) & (height > 0), r, 0.0)


def horizon_radius(height_m, tilt, vfov) -> np.ndarray:
    """Distance where the highest ray meets the ground (``inf`` when it never does)."""
    height = np.asarray(height_m, dtype=float)
    highest = np.radians(np.asarray(tilt, dtype=float) - np.asarray(vfov, dtype=float) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = height / np.tan(highest)
    return np.where((highest > 0) & (height > 0), r, np.inf)


def detail_range(resolution_px, fov, ppm: float, lens_fov: float = 60.0) -> np.ndarray:
    """Farthest distance at which ``ppm`` pixels per metre are held (``inf`` without pixels)."""
    px = np.asarray(resolution_px, dtype=float)
    half = np.radians(lens_hfov(fov, lens_fov)) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        r = px / (2 * ppm * np.tan(half))
    return np.where(np.isfinite(px) & (px > 0), r, np.inf)


def effective_ranges(
    range_m,
    height_m,
    tilt,
    fov,
    resolution_px=None,
    *,
    detail: str | None = None,
    aspect: float = 16 / 9,
    lens_fov: float = 60.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Outer and inner (blind) radius of the ground each camera sees.

    Returns
    -------
    outer, inner : ndarray
        ``outer`` = min(range, horizon limit, detail range); ``inner`` = blind
        radius, never more than ``outer``.
    """
    range_m = np.asarray(range_m, dtype=float)
    vfov = vertical_fov(fov, aspect, lens_fov)
    outer = np.minimum(range_m, horizon_radius(height_m, tilt, vfov))
    if detail is not None and resolution_px is not None:
        if detail not in DETAIL_PPM:
            from geo.errors import InvalidInput

            raise InvalidInput(f"unknown detail level {detail!r}; "
                               f"use one of {', '.join(DETAIL_PPM)}")
        px = np.asarray(resolution_px, dtype=float)
        outer = np.minimum(outer, detail_range(px, fov, DETAIL_PPM[detail], lens_fov))
    inner = np.minimum(blind_radius(height_m, tilt, vfov), outer)
    return outer, inner

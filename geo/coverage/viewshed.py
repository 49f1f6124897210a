"""What each camera really sees: sector − blind strip − building shadows.

Everything here is pure geometry in a metric CRS (no database). See
:mod:`geo.coverage.optics` for the range model and :mod:`geo.coverage.shadows`
for the occlusion model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.coverage import optics
from geo.coverage.sectors import sectors
from geo.coverage.shadows import Footprints, cast


class Viewshed:
    """Visible ground of an array of cameras among building footprints.

    Parameters
    ----------
    detail : str or None
        IEC 62676-4 level (detect, observe, recognise, identify) limiting the
        range of cameras with a known resolution; None uses ``range_m`` only.
    aspect : float
        Image aspect ratio (width / height) for the vertical field of view.
    lens_fov : float
        Lens angle assumed for dome/PTZ cameras, degrees.
    n_arc : int
        Segments per sector arc.
    mount_tolerance : float
        A footprint containing a camera, or this close to it (m), is the
        building the camera is mounted on: it casts no shadow for that camera.
    min_area : float
        Views smaller than this (m²) count as nothing seen.

    Attributes
    ----------
    views_ : ndarray of (Multi)Polygon or None
        The visible ground per camera (None when nothing is seen).
    area_ : ndarray
        Area of each view, m².
    outer_, inner_ : ndarray
        Effective range and blind radius per camera, m.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> cams = dict(x=[0.0], y=[0.0], azimuth=[0.0], fov=[90.0], range_m=[20.0],
    ...             height_m=[0.0], tilt=[0.0], kind=["bullet"])
    >>> wall = shapely.box(-50, 5, 50, 6)
    >>> v = Viewshed().fit(cams, [wall])
    >>> round(float(v.area_[0]), 1)  # only the triangle in front of the wall
    25.0
    """

    def __init__(self, detail: str | None = None, aspect: float = 16 / 9,
                 lens_fov: float = 60.0, n_arc: int = 96, mount_tolerance: float = 0.0,
                 min_area: float = 1.0):
        self.detail = detail
        self.aspect = aspect
        self.lens_fov = lens_fov
        self.n_arc = n_arc
        self.mount_tolerance = mount_tolerance
        self.min_area = min_area

    def fit(self, cameras, buildings) -> Viewshed:
        """Compute the views.

        Parameters
        ----------
        cameras : mapping or DataFrame
            Columns ``x, y, azimuth, fov, range_m, height_m, tilt`` and
            optionally ``kind`` (dome/ptz turn around) and ``resolution_px``.
        buildings : array_like of shapely geometries
            Footprints in the same metric CRS (points are ignored).
        """
        cams = pd.DataFrame(cameras)
        x, y = cams["x"].to_numpy(float), cams["y"].to_numpy(float)
        fov = cams["fov"].to_numpy(float)
        if "kind" in cams:
            fov = np.where(cams["kind"].isin(optics.TURNING_KINDS).to_numpy(), 360.0, fov)
        res = cams["resolution_px"].to_numpy(float) if "resolution_px" in cams else None
        self.outer_, self.inner_ = optics.effective_ranges(
            cams["range_m"], cams["height_m"], cams["tilt"], fov, res,
            detail=self.detail, aspect=self.aspect, lens_fov=self.lens_fov,
        )
        azimuth = cams["azimuth"].to_numpy(float)
        ground = sectors(x, y, azimuth, fov, self.outer_, self.inner_, self.n_arc)
        wedge = sectors(x, y, azimuth, fov, self.outer_, None, self.n_arc)
        self.views_ = _occlude(ground, wedge, np.column_stack([x, y]), self.outer_,
                               np.asarray(buildings, dtype=object), self.mount_tolerance)
        area = np.where(shapely.is_missing(self.views_), 0.0, shapely.area(self.views_))
        small = area < self.min_area
        self.views_[small] = None
        self.area_ = np.where(small, 0.0, area)
        return self


def _occlude(ground, wedge, cam_xy, radius, buildings, mount_tolerance) -> np.ndarray:
    """``ground`` minus the shadows of the buildings meeting each ``wedge``."""
    views = ground.copy()
    if len(buildings) == 0 or len(ground) == 0:
        return _polygonal(views)
    live = np.flatnonzero(~shapely.is_missing(wedge))
    tree = shapely.STRtree(buildings)
    w_ix, b_ix = tree.query(wedge[live], predicate="intersects")
    if len(w_ix) == 0:
        return _polygonal(views)
    cam = live[w_ix]
    fp = Footprints.from_geometries(buildings[np.unique(b_ix)])
    local = np.searchsorted(np.unique(b_ix), b_ix)
    shadow, owner = cast(fp, cam_xy, radius, cam, local, mount_tolerance)
    order = np.argsort(owner, kind="stable")
    shadow, owner = shadow[order], owner[order]
    cams, starts = np.unique(owner, return_index=True)
    bounds = np.r_[starts, len(owner)]
    unions = np.array([shadow[a] if b - a == 1 else shapely.union_all(shadow[a:b])
                       for a, b in zip(bounds[:-1], bounds[1:], strict=True)], dtype=object)
    views[cams] = shapely.difference(ground[cams], unions)
    return _polygonal(views)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep the polygonal parts of each geometry as a MultiPolygon (None when empty)."""
    out = np.full(len(geoms), None, dtype=object)
    parts, idx = shapely.get_parts(geoms, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 1e-6)
    if keep.any():
        shapely.multipolygons(parts[keep], indices=idx[keep], out=out)
    return out

"""What loaders call after writing layers that camera views depend on.

``camera_views`` is derived from ``cameras`` and ``buildings``; a loader (files,
the demo city, HTTP ingest) calls :func:`after_load` once its transaction has
committed. Gaps and figures need no call: they are recomputed on their next
read because the layer versions moved.
"""

from __future__ import annotations

from sqlalchemy import Engine

from geo.coverage.settings import CoverageSettings
from geo.coverage.views import RefreshReport, refresh_all, refresh_cameras, refresh_near
from geo.settings import ServiceAreaSettings

#: Layers whose changes alter what cameras see.
VIEW_INPUTS = ("cameras", "buildings")


def after_load(engine: Engine, layer: str, *, settings: CoverageSettings,
               area: ServiceAreaSettings, camera_ids=None, geometry=None,
               progress: bool = False) -> RefreshReport | None:
    """Bring ``camera_views`` up to date after ``layer`` changed.

    Parameters
    ----------
    engine : Engine
        The database.
    layer : str
        The layer that was written; other layers need nothing (None is returned).
    settings : CoverageSettings
        Coverage settings, as for :func:`geo.coverage.views.refresh_all`.
    area : ServiceAreaSettings
        The service area (its metric EPSG).
    camera_ids : iterable of int, optional
        For ``cameras``: the cameras added or changed (default: all of them).
    geometry : shapely geometry, optional
        For ``buildings``: where footprints changed, lon/lat (old and new
        footprints together); default: every camera is recomputed.
    progress : bool
        Show a progress bar for a full refresh.
    """
    if layer not in VIEW_INPUTS:
        return None
    if layer == "cameras" and camera_ids is not None:
        return refresh_cameras(engine, camera_ids, settings, area)
    if layer == "buildings" and geometry is not None:
        return refresh_near(engine, geometry, settings, area)
    return refresh_all(engine, settings, area, progress=progress)

"""What the callers of loaders run after writing layers that camera views depend on.

``camera_views`` is derived from ``cameras`` and ``buildings``. The loaders in
:mod:`geo.io` know nothing of coverage: whoever runs a load (the ``load`` command,
the demo city, HTTP ingest) calls :func:`after_load` or :func:`after_report` once its
transaction has committed. Gaps and figures need no call: they are recomputed on their next
read because the layer versions moved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine

from geo.coverage.settings import CoverageSettings
from geo.coverage.views import RefreshReport, refresh_all, refresh_cameras, refresh_near
from geo.settings import ServiceAreaSettings

if TYPE_CHECKING:
    from geo.io.load import LoadReport

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


def after_report(engine: Engine, report: LoadReport, *, settings: CoverageSettings,
                 area: ServiceAreaSettings) -> None:
    """Bring camera views up to date after the file load ``report`` describes.

    Only what the load changed is recomputed (the cameras it wrote, the camera views
    near the footprints it wrote); a note is added to ``report.messages``.
    """
    if not (report.changed_ids or report.changed_bounds):
        return
    import shapely

    if report.layer == "cameras":
        done = after_load(engine, "cameras", settings=settings, area=area,
                          camera_ids=report.changed_ids)
    else:
        done = after_load(engine, "buildings", settings=settings, area=area,
                          geometry=shapely.box(*report.changed_bounds))
    if done is not None:
        report.messages.append(f"camera views: {done.summary()}")

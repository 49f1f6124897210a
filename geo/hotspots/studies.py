"""The study areas of one database, cached by resolution, bbox and data versions.

A study is the set of cells an analysis covers (``geo.hotspots.study``); it
depends only on the admin areas (or, without them, the incidents' extent) and on
which cells hold incidents, never on the time window or the filters. Small new
studies get their k = 1..3 weights built in the background.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from geo.errors import InvalidInput, NotEnoughData
from geo.hotspots import aggregate
from geo.hotspots.cache import Lru
from geo.hotspots.cells import polyfill
from geo.hotspots.counting import Counter
from geo.hotspots.freshness import DataState
from geo.hotspots.settings import HotspotSettings
from geo.hotspots.study import Study, check_size, clip_to_bbox, extent_area, with_incident_cells

log = logging.getLogger(__name__)

# Studies up to this many cells get their k = 2 and 3 weights built in the background.
PREBUILD_MAX_CELLS = 60_000


class StudyCache:
    """Study areas and their cells for one database.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    settings : HotspotSettings
        ``max_cells`` (largest study) and ``area_buffer_m`` (extent buffer).
    """

    def __init__(self, engine: Engine, settings: HotspotSettings):
        self.engine = engine
        self.settings = settings
        self._areas = Lru(4)
        self._filled = Lru(16)
        self._incident_cells = Lru(8)
        self.studies = Lru(16)
        self._by_cells = Lru(16)

    def area(self, st: DataState):
        """(geometry, source label) of the study area."""
        def make():
            # One transaction per table: holding admin_areas while waiting for incidents
            # would deadlock with a TRUNCATE that locks them in the other order.
            with self.engine.connect() as conn:
                geom, level = aggregate.admin_area(conn)
            if geom is not None:
                return geom, f"admin_areas:{level}"
            with self.engine.connect() as conn:
                extent = aggregate.incident_extent(conn)
            if extent is None:
                raise NotEnoughData("there are no incidents and no admin areas to analyse")
            return extent_area(extent, self.settings.area_buffer_m), "incident_extent"

        return self._areas.get(_area_key(st), make)

    def study(self, res: int, bbox: tuple | None, st: DataState, counter: Counter) -> Study:
        """The study cells for a resolution and bbox at the current data versions.

        With a bbox, the whole area's study is sliced when it is within the size
        limit; otherwise only the clipped area is filled.
        """
        def make():
            if bbox is None:
                return self.fill(res, None, st, counter)
            try:
                whole = self.study(res, None, st, counter)
            except InvalidInput:
                return self.fill(res, bbox, st, counter)
            return _enough(whole.subset(bbox), res, bbox)

        return self.studies.get((res, bbox, st.admin_areas, st.incidents), make)

    def fill(self, res: int, bbox: tuple | None, st: DataState, counter: Counter) -> Study:
        """Polyfill the (clipped) area and add the incidents' cells."""
        geom, source = self.area(st)

        def fill():
            clipped = clip_to_bbox(geom, bbox)
            check_size(clipped, res, self.settings.max_cells)
            return polyfill(clipped, res)

        filled = self._filled.get((res, bbox, _area_key(st)), fill)
        held = self._incident_cells.get((res, st.incidents),
                                        lambda: counter.incident_cells(res))
        fresh = _enough(Study(res, with_incident_cells(filled, held, bbox), source), res, bbox)
        study = self._by_cells.get((res, fresh.key), lambda: fresh)
        if study is fresh and len(study) <= PREBUILD_MAX_CELLS:
            threading.Thread(target=_prebuild, args=(study,), daemon=True,
                             name="onemap-hotspot-weights").start()
        return study


def _area_key(st: DataState) -> tuple:
    """The area follows admin areas, or the incidents when there are none."""
    return (st.admin_areas,) if st.admin_areas > 1 else (st.admin_areas, st.incidents)


def _prebuild(study: Study) -> None:
    """Build the k = 1, 2, 3 weights of a new study ahead of the requests that need them.

    A failure here is only logged: the request that needs the weights builds them
    itself and reports the problem.
    """
    try:
        for k in (1, 2, 3):
            study.weights(k)
    except Exception as exc:  # noqa: BLE001 - a background prebuild never raises
        log.warning("hotspot weights prebuild at res %d failed: %s", study.res, exc)


def _enough(study: Study, res: int, bbox: tuple | None) -> Study:
    """The study, unless it has too few cells for Gi*."""
    if len(study) < 3:
        where = "the bbox" if bbox else "the service area"
        raise NotEnoughData(f"{where} holds {len(study)} cells at res {res}; "
                            "use a larger bbox or a finer res")
    return study


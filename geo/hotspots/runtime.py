"""The long-lived side of the hotspot analyses for one database.

``HotspotService`` ties together what outlives a request: the incidents snapshot
(``geo.hotspots.freshness``), the study areas (``geo.hotspots.studies``), the
cell index of the in-memory counter (``geo.hotspots.counting``), whole results
keyed by query and data versions, and the gate that bounds concurrent
computations. The app builds one per engine (``api.state.AppState``); the CLI
and tests build their own. Every cache computes a missing entry once however
many requests ask for it at the same time, and any change to incidents or admin
areas invalidates what depended on them.
"""

from __future__ import annotations

from sqlalchemy import Engine

from geo.errors import NotEnoughData
from geo.hotspots.cache import Gate, Lru
from geo.hotspots.counting import CellIndex, Counter, counter_for
from geo.hotspots.freshness import DataState, SnapshotKeeper
from geo.hotspots.settings import HotspotSettings
from geo.hotspots.studies import StudyCache
from geo.hotspots.study import Study
from geo.settings import ServiceAreaSettings


class HotspotService:
    """Entry point of the hotspot analyses for one database.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    settings : HotspotSettings
    area : ServiceAreaSettings
        The service area's metric EPSG (heatmap distances).
    """

    def __init__(self, engine: Engine, settings: HotspotSettings, area: ServiceAreaSettings):
        self.engine = engine
        self.settings = settings
        self.area_settings = area
        self.snapshots = SnapshotKeeper(engine, settings)
        self.studies = StudyCache(engine, settings)
        self.index = CellIndex()
        self.gate = Gate(settings.max_concurrent)
        self.results = Lru(settings.cache_entries)

    def state(self, fresh: bool = False) -> DataState:
        """The data an answer uses (see ``geo.hotspots.freshness``)."""
        return self.snapshots.state(fresh)

    def counter(self, st: DataState) -> Counter:
        """Where the answer at ``st`` counts its incidents: memory or the database."""
        return counter_for(st, self.engine, self.index)

    def study(self, res: int, bbox: tuple | None, st: DataState) -> Study:
        """The study cells for a resolution and bbox at the data state ``st``."""
        return self.studies.study(res, bbox, st, self.counter(st))

    def require(self, total: int, what: str = "this window and filter") -> None:
        """Refuse to compute statistics on too few incidents."""
        need = self.settings.min_incidents
        if total == 0:
            raise NotEnoughData(f"no incidents match {what}")
        if total < need:
            raise NotEnoughData(f"only {total} incidents match {what}; hotspot statistics "
                                f"need at least {need} (ONEMAP_HOTSPOT_MIN_INCIDENTS)")

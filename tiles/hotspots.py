"""The hotspots tile layer's data: Gi* cells from ``geo.hotspots.analyses``.

The analysis runs in a worker thread on the hotspot service's engine, behind its
gate (at most ``ONEMAP_HOTSPOT_MAX_CONCURRENT`` at once); the service caches
results per query and data version, and rendered tiles are cached by the tile
cache (keyed on the incidents and admin-area versions). Tiles read fresh data (no
stale snapshot), because a tile cached under a version must hold that version's
incidents.
"""

from __future__ import annotations

from geo.errors import NotEnoughData
from geo.hotspots.analyses import hotspot_cells
from geo.hotspots.runtime import HotspotService
from tiles.filters import TileFilters


def hotspot_source(svc: HotspotService):
    """``async (filters, res) -> DataFrame | None`` (None: too few incidents for Gi*)."""

    async def source(filters: TileFilters, res: int):
        def cells():
            return hotspot_cells(
                svc, fresh=True, res=res, from_=filters.time_from, to=filters.time_to,
                category=list(filters.categories) or None,
                source=list(filters.sources) or None)

        try:
            return await svc.gate.run(cells)
        except NotEnoughData:
            return None

    return source

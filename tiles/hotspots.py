"""The hotspots tile layer's data: Gi* cells from ``geo.hotspots.service``.

The analysis runs in a worker thread on the SQLAlchemy engine; the hotspot
service caches results per query and data version, and rendered tiles are
cached by the tile cache (keyed on the incidents and admin-area versions).
"""

from __future__ import annotations

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from geo.errors import NotEnoughData
from tiles.filters import TileFilters


def hotspot_source(engine: Engine):
    """``async (filters, res) -> DataFrame | None`` (None: too few incidents for Gi*)."""

    async def source(filters: TileFilters, res: int):
        from geo.hotspots.service import hotspot_cells

        try:
            return await run_in_threadpool(
                hotspot_cells, engine, res=res, from_=filters.time_from, to=filters.time_to,
                category=list(filters.categories) or None, source=list(filters.sources) or None,
            )
        except NotEnoughData:
            return None

    return source

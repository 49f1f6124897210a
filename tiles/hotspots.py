"""The hotspots tile layer's data: Gi* cells from ``geo.hotspots.service``.

The analysis runs in a worker thread on the SQLAlchemy engine; its result is
memoised per (filters, resolution, incidents version) by the caller's cache of
tiles and here by a small LRU, so panning does not re-run Gi*.
"""

from __future__ import annotations

from collections import OrderedDict

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from tiles.filters import TileFilters

_KEEP = 16


def hotspot_source(engine: Engine):
    """``async (filters, res) -> DataFrame | None``; None when the analysis is unavailable."""
    memo: OrderedDict[tuple, object] = OrderedDict()

    async def source(filters: TileFilters, res: int, version: int = 0):
        try:
            from geo.hotspots.service import hotspot_cells
        except ImportError:
            return None
        key = (filters.key(), res, version)
        if key in memo:
            memo.move_to_end(key)
            return memo[key]
        params = {"res": res, "from": filters.time_from, "to": filters.time_to,
                  "category": list(filters.categories) or None,
                  "source": list(filters.sources) or None}
        frame = await run_in_threadpool(hotspot_cells, engine, params)
        memo[key] = frame
        while len(memo) > _KEEP:
            memo.popitem(last=False)
        return frame

    return source

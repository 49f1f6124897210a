"""Coverage summary per level, computed on demand from the stored views.

Results are cached by the data versions of every layer they depend on
(``layer_versions``), so a repeated request is free and any edit — a camera, a
building, an incident — makes the next request recompute.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

from sqlalchemy import Connection, Engine, text

from geo.coverage.basis import read_basis
from geo.coverage.figures import CoverageFigures
from geo.coverage.settings import CoverageSettings
from geo.coverage.units import check_level, read_units
from geo.settings import ServiceAreaSettings

DEPENDS_ON = ("camera_views", "cameras", "buildings", "waterways", "roads", "places",
              "incidents", "admin_areas", "grids")


def data_versions(conn: Connection, layers=DEPENDS_ON) -> tuple:
    """Versions of ``layers`` (a cache key that changes with any edit of them)."""
    sql = text("SELECT layer, version FROM layer_versions WHERE layer = ANY(:l)")
    rows = dict(conn.execute(sql, {"l": list(layers)}).all())
    return tuple(int(rows.get(layer, 0)) for layer in layers)


class ResultCache:
    """A small thread-safe LRU of computed results keyed by data versions."""

    def __init__(self, size: int = 16):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        """The cached value or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:
        """Store a value, dropping the oldest beyond ``size``."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def summary(engine: Engine, level: str = "city", *, settings: CoverageSettings,
            area: ServiceAreaSettings, until: datetime | None = None,
            days: int | None = None, cache: ResultCache | None = None) -> dict:
    """Coverage figures for every unit of ``level``.

    Returns
    -------
    dict
        ``level``, ``window`` (incident window), ``cameras`` (counts by status
        and class), ``blocked`` (online cameras that see nothing), ``units``
        (see :class:`~geo.coverage.figures.CoverageFigures`) and ``versions``.
    """
    check_level(level)
    days = days or settings.window_days
    with engine.connect() as conn:
        versions = data_versions(conn)
        key = ("summary", str(engine.url), level, days, until, settings.cell_res,
               settings.cell_min_share, settings.place_min_share, settings.apron_m, versions)
        if cache is not None and (hit := cache.get(key)) is not None:
            return hit
        basis = read_basis(conn, window_days=days, until=until, area=area)
        units = read_units(conn, level, basis.proj)
    figures = CoverageFigures(settings.cell_res, settings.cell_min_share,
                              settings.place_min_share, settings.apron_m).fit(basis, units)
    result = {
        "level": level,
        "window": basis.window.as_dict(),
        "cameras": basis.camera_counts(),
        "blocked": basis.blocked(),
        "units": figures.units_,
        "versions": dict(zip(DEPENDS_ON, versions, strict=True)),
    }
    if cache is not None:
        cache.put(key, result)
    return result

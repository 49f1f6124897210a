"""Coverage summary per level, computed on demand from the stored views.

Results are cached by the data versions of every layer they depend on
(``layer_versions``), so a repeated request is free and any edit — a camera, a
building, an incident — makes the next request recompute.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine

from geo.coverage.basis import read_basis
from geo.coverage.figures import CoverageFigures
from geo.coverage.settings import CoverageSettings
from geo.coverage.units import check_level, read_units
from geo.lru import Lru
from geo.settings import ServiceAreaSettings
from geo.versions import layer_versions

DEPENDS_ON = ("camera_views", "cameras", "buildings", "waterways", "roads", "places",
              "incidents", "admin_areas", "grids")


def data_versions(conn: Connection, layers=DEPENDS_ON) -> tuple:
    """Versions of ``layers`` (a cache key that changes with any edit of them)."""
    return tuple(layer_versions(conn, layers).values())


class ResultCache(Lru):
    """Coverage answers keyed by data versions (a :class:`geo.lru.Lru` of 16 by default)."""

    def __init__(self, size: int = 16):
        super().__init__(size)


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

    def compute() -> dict:
        with engine.connect() as conn:
            basis = read_basis(conn, window_days=days, until=until, area=area)
            units = read_units(conn, level, basis.proj)
        figures = CoverageFigures(settings.cell_res, settings.cell_min_share,
                                  settings.place_min_share, settings.apron_m).fit(basis, units)
        return {
            "level": level,
            "window": basis.window.as_dict(),
            "cameras": basis.camera_counts(),
            "blocked": basis.blocked(),
            "units": figures.units_,
            "versions": dict(zip(DEPENDS_ON, versions, strict=True)),
        }

    return compute() if cache is None else cache.get(key, compute)

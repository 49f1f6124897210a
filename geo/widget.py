"""What the ``widget`` role (public map widgets in other apps) may see: the one home of its rules.

Every surface a widget reaches asks this module, never a copy of it: the access
policy (``api/policy.py``), OGC API Features (``api/routers/ogc.py``), vector tiles
and TileJSON (``tiles/render.py``, ``tiles/service.py``) and the map page's layer
list (``api/map/config.py``).

The rules
---------
*Incidents* never reach a widget as features; tiles show them as H3 counts.
Time windows of a widget's requests are widened to whole blocks of ``time_days``
local days (``timezone``; blocks counted from a Monday), so two windows that differ
by less than a block give the same answer and bisecting ``from``/``to`` cannot
find an incident's time. A cell counts only the blocks in which it holds at least
``min_count`` incidents, so any two windows differ there by 0 or by ``min_count``
or more (differencing never goes below the floor in time; categories and sources
are not floored separately). Hotspot cells carry those counts, the bin and the
class, never the z-score or p-value. The SQL of the floor is
``tiles.sql.h3_count_statement(..., floored=True)``.

*Cameras* follow ``cameras``: ``hide`` (nothing), ``coarsen`` (counts on a fixed
global grid of ``camera_cell`` Web Mercator metres, drawn at the cell centres;
clusters at low zoom group whole cells, so every position a widget sees is a
function of the cameras' coarse cells only) or ``show`` (as they are). Camera
views and coverage gaps (which show what cameras miss) need ``show``.

*Extents* of what a widget may not see as features (TileJSON bounds, OGC
collection extents) are the service area's, never the data's own.

Examples
--------
>>> rules = WidgetRules(camera_cell=300.0, time_days=1)
>>> rules.refuses("tiles", "cameras") is None, rules.refuses("features", "cameras") is not None
(True, True)
>>> rules.camera_group(1222.98)
4
>>> from datetime import datetime, UTC
>>> t0, t1 = rules.window(datetime(2024, 5, 1, 3, 5, tzinfo=UTC), datetime(2024, 5, 2, 9, 0,
...                                                                        tzinfo=UTC))
>>> t0.isoformat(), t1.isoformat()
('2024-04-30T16:00:00+00:00', '2024-05-02T16:00:00+00:00')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WIDGET = "widget"
ORIGIN = 20037508.342789244  # half the Web Mercator world width, metres
CAMERA_MODES = ("hide", "coarsen", "show")

# What a widget may never read as features (points, ids, times).
RAW_ONLY = frozenset({"incidents"})
# Single open cases (points lit by time limit): no aggregated render exists for them.
SINGLE_CASES = frozenset({"case_warnings"})
# Layers showing where cameras are or what they miss.
CAMERA_LAYERS = frozenset({"cameras", "camera_views", "coverage_gaps"})
CAMERA_DETAIL = CAMERA_LAYERS - {"cameras"}
# Layers whose extent (bounds, time interval) would tell a widget about hidden data.
SENSITIVE = RAW_ONLY | SINGLE_CASES | CAMERA_LAYERS | {"hotspots"}
# Map-page overlays drawn from the analysis APIs, which are closed to widgets.
ANALYSIS_OVERLAYS = frozenset({"heatmap", "emerging"})

# Blocks of days are counted from a Monday, so 7-day blocks are ISO weeks.
BLOCK_EPOCH = date(1970, 1, 5)


@dataclass(frozen=True)
class WidgetRules:
    """The widget role's restrictions (built from ``ONEMAP_WIDGET_*`` settings).

    Parameters
    ----------
    min_count : int
        Aggregated incident cells with fewer incidents are suppressed.
    cameras : {"hide", "coarsen", "show"}
        How camera positions reach a widget.
    camera_cell : float
        Side of the coarsening grid, Web Mercator metres.
    time_days : int
        Widget time windows are widened to whole blocks of this many local days (7: weeks
        from Monday).
    timezone : str
        The zone whose midnights bound the blocks.
    """

    min_count: int = 5
    cameras: str = "coarsen"
    camera_cell: float = 300.0
    time_days: int = 7
    timezone: str = "Asia/Shanghai"

    # -- what may be seen, where ----------------------------------------------------------

    def refuses(self, surface: str, layer: str) -> str | None:
        """Why a widget may not read ``layer`` on ``surface`` (None: it may).

        ``surface`` is ``tiles`` (aggregated or coarsened renders), ``features``
        (OGC items, GeoJSON: one feature per row) or ``page`` (the map's overlays).
        """
        if surface == "page" and layer in ANALYSIS_OVERLAYS:
            return f"the {layer} overlay reads analysis APIs closed to role widget"
        if layer in SINGLE_CASES:
            return f"role widget may not see single cases ({layer})"
        if layer in RAW_ONLY and surface != "tiles" and surface != "page":
            return f"role widget may not read raw {layer}; use the aggregated tiles"
        if layer == "cameras" and self.cameras == "hide":
            return "camera positions are hidden from role widget (ONEMAP_WIDGET_CAMERAS=hide)"
        if layer == "cameras" and self.cameras == "coarsen" and surface == "features":
            return ("camera positions reach role widget only as coarsened counts in the tiles "
                    "(ONEMAP_WIDGET_CAMERAS=coarsen)")
        if layer in CAMERA_DETAIL and self.cameras != "show":
            return f"{layer} is hidden from role widget (needs ONEMAP_WIDGET_CAMERAS=show)"
        return None

    def coarsens_cameras(self) -> bool:
        """True when camera tiles show coarse cells instead of cameras."""
        return self.cameras == "coarsen"

    def hides_extent(self, layer: str) -> bool:
        """True when ``layer``'s own extent must not reach a widget (use the service area)."""
        return layer in SENSITIVE and not (layer in CAMERA_LAYERS and self.cameras == "show")

    # -- camera coarsening ----------------------------------------------------------------

    def camera_group(self, cluster_m: float) -> int:
        """Coarse cells per side of the cells shown where tiles cluster at ``cluster_m``.

        A whole number, so the shown cells are unions of coarse cells (a camera's
        cluster depends on its coarse cell only); 1 where tiles do not cluster.
        """
        return max(1, round(cluster_m / self.camera_cell))

    def camera_grid(self, x: int, y: int, z: int, cluster_m: float) -> dict[str, float | int]:
        """The cells tile ``z/x/y`` shows coarsened cameras in (the bound values of its query).

        ``cell`` is the coarse cell (metres), ``group`` coarse cells per side of a shown
        cell, ``reach`` the shown cell's side, ``id_stride`` the ids' row length, and
        ``cx0 … cx1``, ``cy0 … cy1`` the shown cells (columns from the west, rows from
        the north edge of the world) whose centres lie in the tile, so that each shown
        cell belongs to exactly one tile.

        Examples
        --------
        >>> g = WidgetRules(camera_cell=300.0).camera_grid(0, 0, 0, 0.0)
        >>> g["group"], g["cx0"], g["cx1"], g["cy1"], g["id_stride"]
        (1, 0, 133582, 133582, 133585)
        """
        size = 2 * ORIGIN / (1 << z)
        group = self.camera_group(cluster_m)
        side = self.camera_cell * group
        left, top = x * size, y * size  # from the west and north edges of the world
        return {
            "cell": self.camera_cell, "group": group, "reach": side,
            "id_stride": camera_id_stride(side),
            "cx0": math.ceil(left / side - 0.5), "cx1": math.ceil((left + size) / side - 0.5) - 1,
            "cy0": math.ceil(top / side - 0.5), "cy1": math.ceil((top + size) / side - 0.5) - 1,
        }

    # -- time windows ---------------------------------------------------------------------

    def window(self, start: datetime | None, end: datetime | None) -> tuple[datetime | None,
                                                                            datetime | None]:
        """``[start, end)`` widened to whole blocks of ``time_days`` local days."""
        return self.floor_time(start), self.ceil_time(end)

    def floor_time(self, t: datetime | None) -> datetime | None:
        """The start of the block holding ``t`` (UTC)."""
        if t is None:
            return None
        zone = ZoneInfo(self.timezone)
        day = t.astimezone(zone).date()
        days = (day - BLOCK_EPOCH).days
        first = BLOCK_EPOCH + timedelta(days=days - days % self.time_days)
        return datetime.combine(first, time(0), zone).astimezone(UTC)

    def ceil_time(self, t: datetime | None) -> datetime | None:
        """The end of the block holding ``t`` (``t`` itself when it starts a block)."""
        if t is None:
            return None
        start = self.floor_time(t)
        if start == t:
            return start
        zone = ZoneInfo(self.timezone)
        nxt = start.astimezone(zone).date() + timedelta(days=self.time_days)
        return datetime.combine(nxt, time(0), zone).astimezone(UTC)


def camera_id_stride(side: float) -> int:
    """Columns in a row of cells of ``side`` metres (for stable feature ids)."""
    return math.ceil(2 * ORIGIN / side) + 1

"""Render one layer of one tile to MVT bytes, choosing the variant by zoom and role.

Variants: raw features (simplified at low zoom), grid clusters of points,
coarsened camera positions, and aggregated H3 cells (incidents for widgets,
hotspots). Each variant has one stable SQL text (``tiles.sql``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

import asyncpg
import numpy as np
import shapely

from geo.errors import OnemapError
from geo.widget import WIDGET, WidgetRules
from tiles import cells as tile_cells
from tiles import sql
from tiles.filters import TileAddress, TileFilters
from tiles.layers import TileLayer, get_layer, registry
from tiles.settings import TileSettings

FULL = "full"
# The widget role's rules live in geo.widget; ``Policy`` is their name here.
Policy = WidgetRules


class TileTimeout(OnemapError):
    """A tile query ran past its layer's statement timeout (it was cancelled)."""

    code = "tile_timeout"


PoolFactory = Callable[[], Awaitable[asyncpg.Pool]]
HotspotSource = Callable[[TileFilters, int], Awaitable["object"]]


class LayerRenderer:
    """Turns (layer, tile, filters, role) into MVT bytes with the asyncpg pool.

    Parameters
    ----------
    settings : TileSettings
        Extent, buffer, cluster and simplification parameters.
    pool : callable
        Coroutine function returning the asyncpg pool.
    policy : geo.widget.WidgetRules
        Widget-role restrictions.
    hotspots : callable, optional
        ``await hotspots(filters, res)`` → DataFrame of hotspot cells.
    """

    def __init__(self, settings: TileSettings, pool: PoolFactory, policy: Policy,
                 hotspots: HotspotSource | None = None):
        self.settings = settings
        self.pool = pool
        self.policy = policy
        self.hotspots = hotspots
        self._incidents = get_layer("incidents", registry(settings))  # counted for widgets
        self._releasing: set[asyncio.Future] = set()

    async def render(self, layer: TileLayer, at: TileAddress, filters: TileFilters,
                     role: str) -> bytes:
        """MVT bytes of ``layer`` for the tile (b'' when it holds nothing)."""
        if at.z < layer.minzoom:
            return b""
        filters = filters.only(layer.filters)
        widget = role == WIDGET
        if layer.name == "hotspots":
            return await self._hotspots(layer, at, filters, widget)
        if widget and self.policy.refuses("tiles", layer.name):
            return b""
        if widget and layer.name == "incidents":
            return await self._h3_counts(layer, at, filters)
        if widget and layer.name == "cameras" and self.policy.coarsens_cameras():
            return await self._coarse(layer, at, filters)
        if layer.clustered(at.z):
            return await self._clusters(layer, at, filters)
        return await self._raw(layer, at, filters)

    async def _run(self, layer: TileLayer, stmt: sql.Statement, values: dict):
        """Rows of a statement.

        The connection goes back to the pool (asyncpg's reset round trip) after
        the rows are handed on, not before.
        """
        pool = await self.pool()
        conn = await pool.acquire()
        try:
            rows = await conn.fetch(stmt.text, *stmt.args(values),
                                    timeout=layer.timeout_ms / 1000)
        except (TimeoutError, asyncpg.QueryCanceledError):
            await pool.release(conn)
            raise TileTimeout(
                f"tile query for layer {layer.name} exceeded {layer.timeout_ms} ms"
            ) from None
        except BaseException:
            await pool.release(conn)
            raise
        release = asyncio.ensure_future(pool.release(conn))
        self._releasing.add(release)
        release.add_done_callback(self._releasing.discard)
        return rows

    async def _mvt(self, layer: TileLayer, stmt: sql.Statement, values: dict) -> bytes:
        rows = await self._run(layer, stmt, values)
        return bytes(rows[0][0] or b"") if rows else b""

    def _base(self, at: TileAddress, filters: TileFilters) -> dict:
        return {"z": at.z, "x": at.x, "y": at.y, **sql.filter_values(filters)}

    async def _raw(self, layer: TileLayer, at: TileAddress, filters: TileFilters) -> bytes:
        s = self.settings
        simplify = layer.simplified(at.z) and layer.kind != "point" and s.tile_simplify_units > 0
        buffer = s.tile_buffer if layer.kind == "point" else s.tile_polygon_buffer
        stmt = sql.raw_statement(layer, layer.zoom_where(at.z), filters.present, simplify,
                                 s.tile_extent, buffer)
        size = 2 * sql.ORIGIN / (1 << at.z)
        values = self._base(at, filters) | sql.snap_values(at.z, at.x, at.y, s.tile_extent) | {
            "feature_limit": layer.feature_limit,
            "tolerance": size / s.tile_extent * s.tile_simplify_units,
            "min_size": size / 256 * s.tile_min_feature_px,
        }
        return await self._mvt(layer, stmt, values)

    def _cells_per_side(self) -> int:
        """Cluster cells per tile side (a power of two)."""
        return 1 << max(0, int(math.log2(max(1, 256 // self.settings.tile_cluster_px))))

    async def _clusters(self, layer: TileLayer, at: TileAddress, filters: TileFilters) -> bytes:
        s = self.settings
        k = self._cells_per_side()
        size = 2 * sql.ORIGIN / (1 << at.z)
        stmt = sql.cluster_statement(layer, layer.zoom_where(at.z), filters.present, False,
                                     s.tile_extent)
        values = self._base(at, filters) | {
            "cell": size / k, "reach": size / s.tile_extent, "id_stride": k << at.z,
            "cx0": at.x * k, "cx1": at.x * k + k - 1, "cy0": at.y * k, "cy1": at.y * k + k - 1,
        }
        return await self._mvt(layer, stmt, values)

    async def _coarse(self, layer: TileLayer, at: TileAddress, filters: TileFilters) -> bytes:
        """Counts on a fixed global grid, drawn at the cell centres (no positions leak).

        Where the layer clusters, the shown cells group whole coarse cells (about the
        cluster size); a camera is counted by its coarse cell, never by its position.
        """
        s = self.settings
        size = 2 * sql.ORIGIN / (1 << at.z)
        cluster_m = size / self._cells_per_side() if layer.clustered(at.z) else 0.0
        stmt = sql.cluster_statement(layer, layer.zoom_where(at.z), filters.present, True,
                                     s.tile_extent)
        values = self._base(at, filters) | self.policy.camera_grid(at.x, at.y, at.z, cluster_m)
        return await self._mvt(layer, stmt, values)

    async def _h3_counts(self, layer: TileLayer, at: TileAddress, filters: TileFilters) -> bytes:
        """Incidents per H3 cell for the widget role.

        Only (cell, block of days) pairs holding the widget minimum count; a cell whose
        total is still under the minimum is left out.
        """
        cells, counts = await self._floored(layer, at, filters, tile_cells.widget_res(at.z))
        return await self._cells(layer, at, cells, {"count": ("int8", counts)})

    async def _floored(self, layer: TileLayer, at: TileAddress, filters: TileFilters,
                       res: int) -> tuple[np.ndarray, np.ndarray]:
        """H3 cells around the tile and their incidents counted as a widget may see them."""
        stmt = sql.h3_count_statement(layer, filters.present, res, floored=True)
        rules = self.policy
        values = self._base(at, filters) | {
            "res": res, "reach": tile_cells.reach_m(res, tile_cells.tile_centre_lat(at.z, at.y)),
            "min_count": rules.min_count, "days": rules.time_days, "tz": rules.timezone,
        }
        rows = await self._run(layer, stmt, values)
        cells = np.array([r["cell"] for r in rows], dtype=np.int64)
        counts = np.array([r["n"] for r in rows], dtype=np.int64)
        keep = counts >= rules.min_count
        return cells[keep], counts[keep]

    async def _hotspots(self, layer: TileLayer, at: TileAddress, filters: TileFilters,
                        widget: bool) -> bytes:
        """Gi* cells of the tile.

        A widget gets the cells it may count (``_floored``) with those counts, bins and
        classes, not the z-scores and p-values (they move with any one incident).
        """
        if self.hotspots is None:
            return b""
        res = max(6, min(9, at.z - 4))
        frame = await self.hotspots(filters, res)
        if frame is None or len(frame) == 0:
            return b""
        cells = np.array([_h3_int(h) for h in frame["h3"]], dtype=np.int64)
        if widget:
            seen, counts = await self._floored(self._incidents, at, filters, res)
            found = dict(zip(seen.tolist(), counts.tolist(), strict=True))
            keep = np.array([int(c) in found for c in cells], dtype=bool)
            frame, cells = frame[keep], cells[keep]
            return await self._cells(layer, at, cells, {
                "count": ("int8", np.array([found[int(c)] for c in cells], dtype=np.int64)),
                "bin": ("int8", frame["bin"].to_numpy(np.int64)),
                "class": ("text", frame["class"].astype(str).to_numpy()),
            })
        columns = {
            "count": ("int8", frame["count"].to_numpy(np.int64)),
            "gi_z": ("float8", frame["gi_z"].to_numpy(np.float64)),
            "p_value": ("float8", frame["p_value"].to_numpy(np.float64)),
            "bin": ("int8", frame["bin"].to_numpy(np.int64)),
            "class": ("text", frame["class"].astype(str).to_numpy()),
        }
        return await self._cells(layer, at, cells, columns)

    async def _cells(self, layer: TileLayer, at: TileAddress, cells: np.ndarray,
                     columns: dict[str, tuple[str, np.ndarray]]) -> bytes:
        s = self.settings
        polygons = tile_cells.cell_polygons(cells)
        bounds = tile_cells.tile_bounds(at.z, at.x, at.y, s.tile_buffer / s.tile_extent)
        mask = tile_cells.touching(polygons, bounds)
        if not mask.any():
            return b""
        spec = (("h3", "text"),) + tuple((name, typ) for name, (typ, _) in columns.items())
        stmt = sql.cells_statement(layer.name, spec, s.tile_extent, s.tile_buffer)
        values = {"z": at.z, "x": at.x, "y": at.y,
                  "ids": [int(c) for c in cells[mask]],
                  "wkbs": list(shapely.to_wkb(polygons[mask])),
                  "h3": [format(int(c), "x") for c in cells[mask]]}
        for name, (_, arr) in columns.items():
            values[name] = [v.item() if hasattr(v, "item") else v for v in arr[mask]]
        return await self._mvt(layer, stmt, values)


def _h3_int(cell) -> int:
    if isinstance(cell, str):
        import h3

        return h3.str_to_int(cell)
    return int(cell)

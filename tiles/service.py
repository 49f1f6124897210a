"""The tile service: requests → ETag → cache (coalesced) → per-layer renders.

The ETag is a hash of the layers, the tile, the normalised filters, the role
class, the configuration and the data version of every layer the tile depends
on. Versions live in memory (:mod:`tiles.versions`), so a conditional request
is answered without touching the database; an edit changes only the ETags of
the layers it touches.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from geo.errors import InvalidInput
from tiles.cache import Tile, TileCache
from tiles.filters import FILTER_NAMES, TileAddress, TileFilters
from tiles.layers import TileLayer, get_layer, registry
from tiles.render import FULL, WIDGET, HotspotSource, LayerRenderer, Policy, PoolFactory
from tiles.settings import TileSettings
from tiles.versions import LayerVersions

MAX_LAYERS = 8
_GZIP_IN_THREAD = 64 * 1024
_NO_FILTERS = TileFilters()
_MEMO = 50_000  # remembered requests and ETags (cleared when full)
Observer = Callable[[str, float, int], None]


def role_class(role: str) -> str:
    """Roles that see the same tiles share a class: ``widget`` or ``full``."""
    return WIDGET if role == WIDGET else FULL


@dataclass(frozen=True, eq=False)
class TileRequest:
    """A validated request for one tile of one or more layers.

    Compared and hashed by identity: equal requests are the same remembered object.
    """

    layers: tuple[TileLayer, ...]
    at: TileAddress
    filters: TileFilters
    role: str

    @property
    def name(self) -> str:
        """The layers as written in the URL (``a,b,c``)."""
        return ",".join(layer.name for layer in self.layers)


class TileService:
    """Everything tiles need while the app runs.

    Parameters
    ----------
    settings : TileSettings
        Tile configuration.
    pool : callable
        Coroutine function returning the asyncpg pool.
    dsn : str
        libpq URL for the LISTEN connection.
    policy : geo.widget.WidgetRules
        Widget-role restrictions (time windows, cameras, minimum counts).
    hotspots : callable, optional
        Source of hotspot cells (``await hotspots(filters, res)``).
    observer : callable, optional
        ``observer(layer, seconds, nbytes)`` after each layer render.
    """

    def __init__(self, settings: TileSettings, pool: PoolFactory, dsn: str,
                 policy: Policy | None = None, hotspots: HotspotSource | None = None,
                 observer: Observer | None = None):
        self.settings = settings
        self.layers = registry(settings)
        self.cache = TileCache(int(settings.tile_cache_mb * 2**20))
        self.versions = LayerVersions(dsn, settings.tile_version_poll_s, self._changed)
        self.renderer = LayerRenderer(settings, pool, policy or Policy(), hotspots)
        self.observer = observer
        self._pool = pool
        self._config = hashlib.blake2b(
            repr((sorted(self.layers.items()), settings.model_dump(), self.renderer.policy))
            .encode(), digest_size=6,
        ).hexdigest()
        self._bounds: dict[tuple[str, str], list[float] | None] = {}
        self._requests: dict[tuple, TileRequest] = {}
        self._etags: dict[tuple, str] = {}
        self._cache_controls: dict[str, str] = {}

    async def start(self) -> TileService:
        """Load layer versions and start listening for changes."""
        await self.versions.start()
        return self

    async def close(self) -> None:
        """Stop listening."""
        await self.versions.close()

    def _changed(self, layer: str) -> None:
        for name, spec in self.layers.items():
            if layer in spec.depends_on:
                self.cache.drop_layer(name)

    def request(self, names: str, z: int, x: int, y: int, params: Mapping[str, str],
                role: str) -> TileRequest:
        """Validate a tile request (layers, address, filters).

        Requests without time filters are remembered (map clients ask for the
        same tiles over and over); relative times depend on the clock.
        """
        memo_key = None
        if "from" not in params and "to" not in params:
            memo_key = (names, z, x, y, tuple(sorted(params.items())), role_class(role))
            found = self._requests.get(memo_key)
            if found is not None:
                return found
        wanted = [n.strip() for n in names.split(",") if n.strip()]
        if not wanted:
            raise InvalidInput("no layer named in the tile URL")
        if len(wanted) > MAX_LAYERS or len(set(wanted)) != len(wanted):
            raise InvalidInput(f"a composite tile takes up to {MAX_LAYERS} distinct layers")
        layers = tuple(get_layer(n, self.layers) for n in wanted)
        at = TileAddress.parse(z, x, y)
        if any(name in params for name in FILTER_NAMES):
            filters = TileFilters.parse(params, now=datetime.now(UTC),
                                        quantum_s=self.settings.tile_time_quantum_s,
                                        tz=self.settings.tile_timezone)
            if role_class(role) == WIDGET:  # whole days: no bisecting an incident's time
                filters = self._widget_window(filters)
        else:
            filters = _NO_FILTERS
        accepted = {f for layer in layers for f in layer.filters}
        filters.check_accepted(accepted, ",".join(wanted))
        req = TileRequest(layers, at, filters, role_class(role))
        if memo_key is not None:
            if len(self._requests) >= _MEMO:
                self._requests.clear()
            self._requests[memo_key] = req
        return req

    def _widget_window(self, filters: TileFilters) -> TileFilters:
        t0, t1 = self.renderer.policy.window(filters.time_from, filters.time_to)
        return replace(filters, time_from=t0, time_to=t1)

    def _layer_key(self, req: TileRequest, layer: TileLayer) -> str:
        versions = ".".join(str(self.versions.get(d)) for d in layer.depends_on)
        role = req.role if layer.role_sensitive else FULL
        filters = req.filters.only(layer.filters).key()
        text = (f"{self._config}|{layer.name}|{req.at.z}/{req.at.x}/{req.at.y}|{filters}|"
                f"{role}|{versions}")
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()

    def etag(self, req: TileRequest) -> str:
        """Weak ETag of the tile (same for its gzip and identity encodings)."""
        versions = tuple(self.versions.get(d) for layer in req.layers for d in layer.depends_on)
        memo_key = (req, versions)
        found = self._etags.get(memo_key)
        if found is not None:
            return found
        keys = [self._layer_key(req, layer) for layer in req.layers]
        if len(keys) == 1:
            etag = f'W/"{keys[0]}"'
        else:
            etag = f'W/"{hashlib.blake2b("+".join(keys).encode(), digest_size=12).hexdigest()}"'
        if len(self._etags) >= _MEMO:
            self._etags.clear()
        self._etags[memo_key] = etag
        return etag

    def cache_control(self, req: TileRequest) -> str:
        """``Cache-Control`` of the response (private when the role changes the content)."""
        name = req.name
        found = self._cache_controls.get(name)
        if found is None:
            found = self._cache_controls[name] = _cache_control(req.layers)
        return found

    def cached(self, etag: str) -> Tile | None:
        """The cached tile for an ETag, if any (no database)."""
        return self.cache.get(etag)

    async def tile(self, req: TileRequest, etag: str) -> tuple[Tile, str]:
        """The tile bytes, rendering (once, however many callers) on a miss."""
        if len(req.layers) == 1:
            return await self.cache.get_or_render(
                etag, lambda: self._render_layer(req, req.layers[0])
            )

        async def compose() -> Tile:
            parts = await asyncio.gather(*(self._layer_tile(req, layer) for layer in req.layers))
            return Tile(b"".join(p.data for p in parts), tuple(lay.name for lay in req.layers))

        return await self.cache.get_or_render(etag, compose)

    async def _layer_tile(self, req: TileRequest, layer: TileLayer) -> Tile:
        key = f'W/"{self._layer_key(req, layer)}"'
        tile, _ = await self.cache.get_or_render(key, lambda: self._render_layer(req, layer))
        return tile

    async def _render_layer(self, req: TileRequest, layer: TileLayer) -> Tile:
        t0 = time.perf_counter()
        data = await self.renderer.render(layer, req.at, req.filters, req.role)
        tile = Tile(data, (layer.name,))
        if len(data) > _GZIP_IN_THREAD:  # zlib lets go of the GIL: keep the loop serving
            await asyncio.to_thread(tile.gzipped, self.settings.tile_gzip_level)
        elif data:
            tile.gzipped(self.settings.tile_gzip_level)
        if self.observer is not None:
            self.observer(layer.name, time.perf_counter() - t0, len(data))
        return tile

    async def bounds(self, layer: TileLayer, role: str = FULL) -> list[float] | None:
        """lon/lat bounds of a layer's data (from planner statistics when the table has them).

        A widget gets the service area's bounds for layers whose own extent would tell
        it where hidden things are (the outermost camera or incident).
        """
        if role_class(role) == WIDGET and self.renderer.policy.hides_extent(layer.name):
            layer = self.layers["admin_areas"]
        table = layer.table or "incidents"
        key = (table, self.versions.get(table))
        if key not in self._bounds:
            pool = await self._pool()
            async with pool.acquire() as conn:
                box = await conn.fetchrow(_BOUNDS.format(table=table))
            self._bounds[key] = None if box is None or box[0] is None else outward(box, 6)
        return self._bounds[key]


def outward(box, digits: int) -> list[float]:
    """A lon/lat box rounded outwards to ``digits`` decimals (so it still holds the data)."""
    k = 10.0**digits
    x0, y0, x1, y1 = (float(v) for v in box)
    return [math.floor(x0 * k) / k, math.floor(y0 * k) / k,
            math.ceil(x1 * k) / k, math.ceil(y1 * k) / k]


def _cache_control(layers: tuple[TileLayer, ...]) -> str:
    value = layers[0].cache_control
    if any(layer.role_sensitive for layer in layers):
        parts = [p.strip() for p in value.split(",") if p.strip() not in ("public", "")]
        value = ", ".join(["private", *parts])
    return value


_BOUNDS = """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
FROM (SELECT CASE WHEN (SELECT reltuples FROM pg_class WHERE oid = '{table}'::regclass) > 100000
                  THEN ST_EstimatedExtent('public', '{table}', 'geom')
                  ELSE (SELECT ST_Extent(geom) FROM {table}) END AS e) AS s"""

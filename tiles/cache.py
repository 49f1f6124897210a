"""A byte-bounded LRU of rendered tiles with request coalescing.

Concurrent requests for the same key share one render; when every waiter has
gone (clients disconnected), the render task is cancelled, which cancels its
query on the server.

Examples
--------
>>> import asyncio
>>> cache = TileCache(max_bytes=1_000_000)
>>> async def render():
...     return Tile(b"abc", ("cameras",))
>>> tile, state = asyncio.run(cache.get_or_render("k", render))
>>> tile.data, state, cache.get("k").data
(b'abc', 'miss', b'abc')
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from geo.codings import gzip_bytes

_ENTRY_OVERHEAD = 256  # bytes of bookkeeping counted per entry


@dataclass
class Tile:
    """Tile bytes, the layers they come from, and a lazily made gzip copy."""

    data: bytes
    layers: tuple[str, ...]
    gz: bytes | None = None

    @property
    def nbytes(self) -> int:
        """Bytes held by this entry."""
        return len(self.data) + len(self.gz or b"") + _ENTRY_OVERHEAD

    def gzipped(self, level: int = 4) -> bytes:
        """The gzip-encoded tile (computed once)."""
        if self.gz is None:
            self.gz = gzip_bytes(self.data, level)
        return self.gz


@dataclass
class _Flight:
    task: asyncio.Future
    waiters: int = 0


@dataclass
class CacheStats:
    """Counters since start."""

    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    evictions: int = 0
    cancelled: int = 0


@dataclass
class TileCache:
    """LRU of tiles bounded by ``max_bytes`` (0 keeps nothing but still coalesces)."""

    max_bytes: int
    nbytes: int = 0
    stats: CacheStats = field(default_factory=CacheStats)
    _entries: OrderedDict[str, Tile] = field(default_factory=OrderedDict)
    _by_layer: dict[str, set[str]] = field(default_factory=dict)
    _inflight: dict[str, _Flight] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Tile | None:
        """The cached tile (marked recently used) or None."""
        tile = self._entries.get(key)
        if tile is not None:
            self._entries.move_to_end(key)
        return tile

    def put(self, key: str, tile: Tile) -> None:
        """Store a tile, evicting the least recently used ones beyond the budget."""
        if tile.nbytes > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.nbytes -= old.nbytes
        self._entries[key] = tile
        self.nbytes += tile.nbytes
        for layer in tile.layers:
            self._by_layer.setdefault(layer, set()).add(key)
        while self.nbytes > self.max_bytes and self._entries:
            self._evict(next(iter(self._entries)))
            self.stats.evictions += 1

    def resize(self, key: str) -> None:
        """Account for a tile that grew (its gzip copy was made)."""
        tile = self._entries.pop(key, None)
        if tile is not None:
            self.nbytes -= tile.nbytes - len(tile.gz or b"")
            self.put(key, tile)

    def drop_layer(self, layer: str) -> int:
        """Forget every tile holding ``layer`` (its data changed); returns how many."""
        keys = self._by_layer.pop(layer, set())
        for key in keys:
            self._evict(key)
        return len(keys)

    def _evict(self, key: str) -> None:
        tile = self._entries.pop(key, None)
        if tile is None:
            return
        self.nbytes -= tile.nbytes
        for layer in tile.layers:
            keys = self._by_layer.get(layer)
            if keys is not None:
                keys.discard(key)

    async def get_or_render(
        self, key: str, render: Callable[[], Awaitable[Tile]]
    ) -> tuple[Tile, str]:
        """The tile for ``key`` and how it was obtained: ``hit``, ``miss`` or ``coalesced``."""
        tile = self.get(key)
        if tile is not None:
            self.stats.hits += 1
            return tile, "hit"
        flight = self._inflight.get(key)
        if flight is None:
            state = "miss"
            self.stats.misses += 1
            flight = _Flight(asyncio.ensure_future(render()))
            self._inflight[key] = flight
            flight.task.add_done_callback(lambda task: self._landed(key, task))
        else:
            state = "coalesced"
            self.stats.coalesced += 1
        flight.waiters += 1
        try:
            tile = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if not flight.task.done() and flight.waiters == 1:
                flight.task.cancel()
                self.stats.cancelled += 1
            raise
        finally:
            flight.waiters -= 1
        return tile, state

    def _landed(self, key: str, task: asyncio.Future) -> None:
        self._inflight.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return
        self.put(key, task.result())

"""Data versions per layer, held in memory.

Statement triggers bump ``layer_versions`` and ``pg_notify('onemap_layers', <layer>)``
(schema 0001). A dedicated asyncpg connection LISTENs on that channel and re-reads
the versions; a slow poll catches what a dropped connection missed. ETags are
derived from these numbers, so answering ``If-None-Match`` needs no query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

CHANNEL = "onemap_layers"
_READ = "SELECT layer, version, changed_at FROM layer_versions"

log = logging.getLogger(__name__)


class LayerVersions:
    """Versions of every layer, refreshed on NOTIFY and by a fallback poll.

    Parameters
    ----------
    dsn : str
        libpq URL of the database (the listener gets its own connection).
    poll_s : float
        Seconds between fallback polls.
    on_change : callable, optional
        Called with a layer name whenever its version moves.
    """

    def __init__(self, dsn: str, poll_s: float = 5.0,
                 on_change: Callable[[str], None] | None = None):
        self.dsn = dsn
        self.poll_s = poll_s
        self.on_change = on_change
        self.versions_: dict[str, str] = {}
        self.refreshes_ = 0
        self._conn: asyncpg.Connection | None = None
        self._poller: asyncio.Task | None = None
        self._pending: asyncio.Task | None = None
        self._starting: asyncio.Future | None = None
        self._dirty = False
        self._lock = asyncio.Lock()

    def get(self, layer: str) -> str:
        """The current version of ``layer`` as ``<n>@<change time>`` ('0' when never seen).

        The change time tells apart databases that were rebuilt to the same counter.
        """
        return self.versions_.get(layer, "0")

    async def start(self) -> LayerVersions:
        """Read the versions and start listening (idempotent; concurrent callers share it)."""
        failed = self._starting is not None and self._starting.done() and (
            self._starting.cancelled() or self._starting.exception() is not None
        )
        if self._starting is None or failed:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)
        return self

    async def _start(self) -> None:
        await self._listen()
        self._poller = asyncio.ensure_future(self._poll())

    @property
    def started(self) -> bool:
        """True once versions are loaded and the listener runs."""
        return self._starting is not None and self._starting.done() and not (
            self._starting.cancelled() or self._starting.exception()
        )

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self.dsn, timeout=5,
                                     server_settings={"application_name": "onemap-versions"})
        await conn.add_listener(CHANNEL, self._notified)
        self._conn = conn
        await self.refresh()

    def _notified(self, *_args) -> None:
        self._dirty = True
        if self._pending is None or self._pending.done():
            self._pending = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._dirty:
            self._dirty = False
            await self.refresh()

    async def refresh(self) -> None:
        """Re-read all versions (a dozen rows) and report the layers that moved."""
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                return
            rows = await self._conn.fetch(_READ)
        self.refreshes_ += 1
        fresh = {r["layer"]: f'{r["version"]}@{r["changed_at"].timestamp():.6f}' for r in rows}
        moved = [k for k, v in fresh.items() if self.versions_.get(k) != v]
        self.versions_ = fresh
        if self.on_change is not None and self.refreshes_ > 1:
            for layer in moved:
                self.on_change(layer)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                if self._conn is None or self._conn.is_closed():
                    await self._listen()
                else:
                    await self.refresh()
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                log.warning("layer versions: refresh failed (%s); retrying", exc)
                self._conn = None

    async def close(self) -> None:
        """Stop polling and close the listener connection."""
        for task in (self._poller, self._pending):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
        self._conn = None
        self._starting = None

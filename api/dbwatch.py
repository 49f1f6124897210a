"""Notice a hung database within seconds and end the calls waiting on it.

A stopped server refuses connections at once, but a hung one (frozen host, stalled
disk, stopped processes) accepts TCP and never answers: a query in flight waits for
ever, since the server-side ``statement_timeout`` cannot fire either. The watch asks
the server ``SELECT 1`` every second on its own connection; when that and a fresh
connection both get no answer within ``hang_probe_s``, the database is marked hung:

- every pooled connection of both engines is cut (SQLAlchemy/psycopg sockets are shut
  down, asyncpg connections terminated), so calls in flight fail at once and answer
  503 ``database_unavailable``;
- new calls fail fast (:meth:`DbWatch.check`) until the server answers again.

Calls on a live but slow server are left alone (they have the statement timeout).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import weakref

import asyncpg
from sqlalchemy import Engine, event

from geo.errors import DatabaseUnavailable

log = logging.getLogger("onemap.db")

#: Seconds between probes.
INTERVAL_S = 1.0
#: A probe answered this fast needs no second try on a new connection.
QUICK_S = 0.5


def track_sockets(engine: Engine) -> weakref.WeakSet:
    """The DBAPI connections an engine opens (a live set, for :func:`cut_sockets`)."""
    conns: weakref.WeakSet = weakref.WeakSet()

    @event.listens_for(engine, "connect")
    def _opened(dbapi_conn, _record) -> None:
        conns.add(dbapi_conn)

    return conns


def cut_sockets(conns) -> int:
    """Shut the sockets of psycopg connections down: a blocked read returns at once."""
    n = 0
    for conn in list(conns):
        try:
            fd = conn.fileno()
        except Exception:  # closed already
            continue
        try:
            with socket.socket(fileno=os.dup(fd)) as s:
                s.shutdown(socket.SHUT_RDWR)
            n += 1
        except OSError:
            continue
    return n


class DbWatch:
    """Probes the database and cuts connections when it hangs (see the module docstring).

    Parameters
    ----------
    dsn : str
        libpq URL of the database.
    probe_s : float
        How long a probe may wait for an answer (``ONEMAP_DB_HANG_PROBE_S``).
    """

    def __init__(self, dsn: str, probe_s: float):
        self.dsn = dsn
        self.probe_s = probe_s
        self.hung = False
        self.psycopg_conns: weakref.WeakSet = weakref.WeakSet()
        self.asyncpg_conns: weakref.WeakSet = weakref.WeakSet()
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None

    def check(self) -> None:
        """Raise DatabaseUnavailable while the database is marked hung."""
        if self.hung:
            raise DatabaseUnavailable("database not answering, retry later")

    async def adopt(self, conn: asyncpg.Connection) -> None:
        """Remember (the asyncpg pool's ``init`` hook) the connection so a hang can end it."""
        self.asyncpg_conns.add(conn)

    def start(self) -> None:
        """Begin probing (in the running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop probing and close the probe's connection."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_S)
            answered = await self.probe()
            if answered and self.hung:
                log.warning("database answers again")
                self.hung = False
            elif not answered and not self.hung:
                self.hung = True
                cut = self.cut()
                log.warning("database not answering within %.1f s: %d connections cut",
                            self.probe_s, cut)

    async def probe(self) -> bool:
        """True when the server answers ``SELECT 1`` within ``probe_s``.

        The probe's connection is asked first; when it is slow or gone, a new one is
        tried alongside it, and either answering in time counts (so neither a busy
        server's slow connect nor a lost probe connection alone is taken for a hang).
        """
        old = self._conn

        async def on_old() -> None:
            if old is None or old.is_closed():
                raise ConnectionError("no probe connection")
            await old.fetchval("SELECT 1")

        async def on_new() -> asyncpg.Connection:
            conn = await asyncpg.connect(self.dsn, timeout=self.probe_s)
            try:
                await conn.fetchval("SELECT 1")
            except BaseException:
                conn.terminate()
                raise
            return conn

        first = asyncio.ensure_future(on_old())
        tasks = {first}
        answered = False
        pending = set(tasks)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.probe_s
        done, _ = await asyncio.wait({first}, timeout=min(QUICK_S, self.probe_s))
        if done and first.exception() is None:
            return True  # the usual case: no new connection needed
        second = asyncio.ensure_future(on_new())
        tasks.add(second)
        pending = {t for t in tasks if not t.done()}
        while pending and not answered:
            done, pending = await asyncio.wait(pending, timeout=max(0, deadline - loop.time()),
                                               return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break
            answered = any(not t.cancelled() and t.exception() is None for t in done)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for t in tasks:
            if t.cancelled() or t.exception() is not None:
                continue
            conn = t.result()
            if conn is not None:  # the new connection answered: keep it for the next probe
                if self._conn is not None and self._conn is not conn:
                    self._conn.terminate()
                self._conn = conn
        if not answered and self._conn is not None:
            self._conn.terminate()
            self._conn = None
        return answered

    def cut(self) -> int:
        """End every tracked connection of both engines; how many were cut."""
        n = cut_sockets(self.psycopg_conns)
        for conn in list(self.asyncpg_conns):
            if not conn.is_closed():
                conn.terminate()
                n += 1
        return n

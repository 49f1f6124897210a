"""A gate on concurrent hotspot computations (their caches are :class:`geo.lru.Lru`)."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable

from geo.errors import OverTimeBudget
from geo.lru import Lru  # noqa: F401  (the hotspot caches import it from here)


class Gate:
    """At most ``limit`` hotspot computations at once per event loop.

    Waiting requests hold no worker thread, so tiles and features keep the
    thread pool while hotspot requests queue here.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._sems: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _sem(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        with self._lock:
            sem = self._sems.get(loop)
            if sem is None:
                sem = self._sems[loop] = asyncio.Semaphore(self.limit)
            return sem

    async def run(self, fn: Callable, *args, timeout: float | None = None):
        """``fn(*args)`` in a worker thread once a slot is free.

        Past ``timeout`` seconds the caller gets ``OverTimeBudget``; the thread cannot be
        killed, so it keeps its slot until it ends (new work queues behind it). A
        caller that goes away likewise leaves the slot to the running thread.
        """
        from starlette.concurrency import run_in_threadpool

        sem = self._sem()
        await sem.acquire()
        try:
            task = asyncio.ensure_future(run_in_threadpool(fn, *args))
        except BaseException:
            sem.release()
            raise
        task.add_done_callback(lambda t: (sem.release(), t.cancelled() or t.exception()))
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            raise OverTimeBudget(f"the analysis ran past its time budget of {timeout:g} s "
                                 "(ONEMAP_HOTSPOT_TIME_BUDGET_S); narrow the window, bbox "
                                 "or res") from None

"""Single-flight caches and a gate on concurrent hotspot computations.

Concurrent callers asking for the same missing key wait on the one computation
under way instead of each recomputing it; a failed computation is not cached and
its error reaches every caller that waited on it.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future

from geo.errors import OverTimeBudget


class Lru:
    """A small thread-safe LRU cache of computed values, one computation per key.

    Parameters
    ----------
    maxsize : int
        Entries kept (0: nothing is kept, but concurrent misses still share one computation).
    """

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._pending: dict[Hashable, Future] = {}
        self._lock = threading.Lock()
        self.computed = 0  # computations run (a test and the bench read it)

    def get(self, key: Hashable, make: Callable[[], object]):
        """The cached value for ``key``, computing it with ``make()`` once when missing."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            flight = self._pending.get(key)
            owner = flight is None
            if owner:
                flight = self._pending[key] = Future()
                self.computed += 1
        if not owner:
            return flight.result()
        try:
            value = make()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            flight.set_exception(exc)
            raise
        with self._lock:
            del self._pending[key]
            if self.maxsize:
                self._data[key] = value
                while len(self._data) > self.maxsize:
                    self._data.popitem(last=False)
        flight.set_result(value)
        return value

    def clear(self) -> None:
        """Forget everything (computations under way still finish)."""
        with self._lock:
            self._data.clear()


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

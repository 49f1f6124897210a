"""The one compute-once LRU cache: values made once per key, the least recently used dropped.

Concurrent callers asking for the same missing key wait on the one computation
under way instead of each making it again; a failed computation is not kept and
its error reaches every caller that waited on it. Keys are usually the data
versions the value was made from (:func:`geo.versions.layer_versions`), so a
change of the data is a new key and old values age out.

Examples
--------
>>> cache = Lru(2)
>>> cache.get("a", lambda: 1), cache.get("a", lambda: 2), cache.computed
(1, 1, 1)
>>> _ = cache.get("b", lambda: 3); _ = cache.get("c", lambda: 4)
>>> "a" in cache, len(cache)
(False, 2)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future


class Lru:
    """A small thread-safe LRU of computed values, one computation per key.

    Parameters
    ----------
    maxsize : int
        Entries kept (0: nothing is kept, but concurrent misses still share one computation).

    Attributes
    ----------
    computed : int
        Computations started (tests and benchmarks read it).
    lock : threading.Lock
        Guards the entries; a subclass may guard its own bookkeeping with it (never
        held while a value is made).
    """

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self.computed = 0
        self.lock = threading.Lock()
        self._data: OrderedDict = OrderedDict()
        self._pending: dict[Hashable, Future] = {}

    def __len__(self) -> int:
        with self.lock:
            return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        with self.lock:
            return key in self._data

    def get(self, key: Hashable, make: Callable[[], object]):
        """The cached value for ``key``, computing it with ``make()`` once when missing."""
        with self.lock:
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
            with self.lock:
                del self._pending[key]
            flight.set_exception(exc)
            raise
        with self.lock:
            del self._pending[key]
            if self.maxsize:
                self._data[key] = value
                while len(self._data) > self.maxsize:
                    self._data.popitem(last=False)
        flight.set_result(value)
        return value

    def clear(self) -> None:
        """Forget everything (computations under way still finish)."""
        with self.lock:
            self._data.clear()

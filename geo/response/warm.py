"""Keeps the response caches warm: every mode's reach at start and again after a change.

Routing every post and joining 15,000 buildings and 100,000 recent incidents to
the streets takes about a second on the city demo, more on a loaded machine; the
first request after the server starts, or after roads, posts, buildings, places or
incidents change, would pay it. :class:`ResponseWarmer` pays it in a background
thread instead: at start, and whenever it sees a layer version (or the hour of the
incident window) move — it polls ``layer_versions`` every
``ONEMAP_RESPONSE_WARM_POLL_S`` seconds. It computes exactly what a request would
(:func:`reach_context` with the same cache, and the default areas), so answers are
never stale: a request that arrives while the warmer computes the same key waits
for that one computation (:class:`ResponseCache` shares it) rather than starting
its own, and one that arrives before the warmer noticed a change computes it —
except for incidents: while the warmer reads a new incidents version, requests may
use the incidents read up to ``ONEMAP_RESPONSE_INCIDENTS_LAG_S`` seconds before
(answers say ``incidents_stale``), and wake the warmer.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine

from geo.errors import OnemapError
from geo.response.areas import OVERLAPS, cached_areas
from geo.response.context import ResponseCache, default_minutes, reach_context
from geo.response.graph import MODES
from geo.response.settings import ResponseSettings
from geo.settings import ServiceAreaSettings
from geo.versions import layer_versions

log = logging.getLogger(__name__)

DEPENDS_ON = ("roads", "posts", "buildings", "places", "incidents")


class ResponseWarmer:
    """Warms a :class:`ResponseCache` in a background thread (see the module docstring).

    Parameters
    ----------
    engine : Engine
        The database.
    cache : ResponseCache
        Loaded graphs and reach matrices (shared with the requests).
    answers : ResponseCache, optional
        Area answers (shared with the requests); the default areas are warmed too.
    settings, area
        As for :func:`reach_context`.
    """

    def __init__(self, engine: Engine, cache: ResponseCache, answers: ResponseCache | None,
                 settings: ResponseSettings,
                 area: ServiceAreaSettings):
        self.engine = engine
        self.cache = cache
        self.answers = answers
        self.settings = settings
        self.area = area
        self.stopping = threading.Event()
        self.rounds = 0  # warm-ups finished
        self.last_s: float | None = None  # seconds the last one took
        self.thread: threading.Thread | None = None
        self._seen: tuple | None = None
        self._idle = threading.Condition()
        self._wake = threading.Event()

    @property
    def running(self) -> bool:
        """True while the background thread runs."""
        return self.thread is not None and self.thread.is_alive()

    def poke(self) -> None:
        """Look at the layer versions now rather than at the next poll."""
        self._wake.set()

    def state(self) -> tuple:
        """What the caches depend on: the layer versions and the hour of the incident window."""
        with self.engine.connect() as conn:
            versions = layer_versions(conn, sorted(DEPENDS_ON))
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        return (*versions.items(), hour)

    def warm(self) -> list[str]:
        """Compute every mode's reach (and default areas) now; the modes warmed."""
        done = []
        for mode in MODES:
            if self.stopping.is_set():
                break
            try:
                ctx = reach_context(self.engine, mode, settings=self.settings, area=self.area,
                                    cache=self.cache)
                if self.answers is not None:
                    for overlap in OVERLAPS:
                        cached_areas(ctx, default_minutes(mode), overlap, self.answers)
            except OnemapError as exc:  # no roads yet, no on-duty post of this mode: nothing to do
                log.debug("response warm-up of %s skipped: %s", mode, exc)
                continue
            done.append(mode)
        return done

    def step(self) -> bool:
        """Warm up when the state moved since the last warm-up; True when it did."""
        now = self.state()
        if now == self._seen:
            return False
        started = time.perf_counter()
        modes = self.warm()
        self._seen = now
        self.last_s = time.perf_counter() - started
        with self._idle:
            self.rounds += 1
            self._idle.notify_all()
        log.info("response warm-up (%s) in %.2f s", ", ".join(modes) or "nothing", self.last_s)
        return True

    def _run(self) -> None:
        while not self.stopping.is_set():
            self._wake.clear()
            try:
                self.step()
            except Exception as exc:  # noqa: BLE001 - a warm-up never fails the app
                log.info("response warm-up failed: %s", exc)
            self._wake.wait(self.settings.warm_poll_s)

    def start(self) -> ResponseWarmer:
        """Start the background thread (nothing when ``ONEMAP_RESPONSE_WARM_UP`` is off)."""
        if self.settings.warm_up and self.thread is None:
            self.thread = threading.Thread(target=self._run, daemon=True,
                                           name="onemap-response-warm-up")
            self.thread.start()
        return self

    def wait(self, rounds: int = 1, timeout: float = 60.0) -> bool:
        """Block until ``rounds`` warm-ups have finished (tests, benchmarks); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self.rounds >= rounds, timeout)

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the step under way; wait for the thread up to ``timeout_s`` (shutdown).

        The thread is a daemon: one stuck on a hung database does not keep the process.
        """
        import asyncio

        self.stopping.set()
        self._wake.set()
        if self.thread is not None:
            await asyncio.to_thread(self.thread.join, timeout_s)

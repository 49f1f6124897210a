"""Warming the hotspot caches in the background when the app starts.

What a first answer at the default resolution needs is loaded before any
request asks: the incidents' snapshot, the whole area's study and every
incident's row in it, the k-ring weights, the pre-serialised feature heads and
the content codecs.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from geo.hotspots.params import Filters
from geo.hotspots.runtime import HotspotService
from geo.hotspots.studies import PREBUILD_MAX_CELLS
from geo.hotspots.study import Study

log = logging.getLogger(__name__)


@dataclass
class WarmUp:
    """A background warm-up: its thread (None when off) and the flag that stops it."""

    thread: threading.Thread | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    async def stop(self) -> None:
        """Stop after the step under way and wait for the thread (app shutdown)."""
        import asyncio

        self.stopping.set()
        if self.thread is not None:
            await asyncio.to_thread(self.thread.join)


def warm_up(svc: HotspotService, res: int | None = None,
            stop: threading.Event | None = None) -> Study | None:
    """Load what a first answer at ``res`` (default resolution) needs, now.

    The k-ring weights are built for k = 1..3 on studies up to
    ``PREBUILD_MAX_CELLS`` cells, else for the default k. Once ``stop`` is set,
    returns None after the step under way.
    """
    from geo.codings import CODINGS, available, compress

    stop = stop or threading.Event()
    st = svc.state()
    if stop.is_set():
        return None
    study = svc.study(res or svc.settings.res, None, st)
    counter = svc.counter(st)
    steps = [lambda: counter.counts(study, Filters())]  # places every incident
    ks = (1, 2, 3) if len(study) <= PREBUILD_MAX_CELLS else (svc.settings.k,)
    steps += [lambda k=k: study.weights(k) for k in ks] + [study.heads]
    steps += [lambda c=c: compress(b"{}", c) for c in CODINGS if available(c)]
    for step in steps:
        if stop.is_set():
            return None
        step()
    return study


def start_warm_up(svc: HotspotService) -> WarmUp:
    """``warm_up(svc)`` in a background thread (nothing when ``warm_up`` is off).

    Failures (no database yet, no incidents, an area too large for the default
    resolution) are logged, not raised: the requests that follow report them.
    """
    warm = WarmUp()
    if not svc.settings.warm_up:
        return warm

    def run():
        started = time.monotonic()
        try:
            study = warm_up(svc, stop=warm.stopping)
        except Exception as exc:  # noqa: BLE001 - a warm-up never fails the app
            log.info("hotspot warm-up skipped: %s", exc)
            return
        if study is not None:
            log.info("hotspot warm-up: %d cells at res %d in %.1f s", len(study), study.res,
                     time.monotonic() - started)

    warm.thread = threading.Thread(target=run, daemon=True, name="onemap-hotspot-warm-up")
    warm.thread.start()
    return warm

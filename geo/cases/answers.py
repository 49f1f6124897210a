"""The case-flow answers put together for the API and the CLI: caches, defaults, storage.

``CaseService`` is what outlives a request: the cases in memory, the unit context and
the computed 平安指数 answers. The app holds one (``api.state.AppState``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from geo.cases.figures import from_us
from geo.cases.index import compute_index, parse_weights
from geo.cases.index_store import store_index
from geo.cases.period import Period
from geo.cases.settings import CaseSettings, IndexSettings
from geo.cases.table import NAT, CaseCache
from geo.cases.units import COMPONENTS, UnitContext, providers
from geo.errors import NotEnoughData

log = logging.getLogger(__name__)


class CaseService:
    """One per app: the cases in memory, unit context, and computed indexes (LRU)."""

    @classmethod
    def from_settings(cls, settings: CaseSettings, index_settings: IndexSettings,
                      coverage, response, area) -> CaseService:
        """A service whose index components read ``coverage``/``response``/``area`` settings."""
        return cls(settings, index_settings, UnitContext(providers(coverage, response, area)))

    def __init__(self, settings: CaseSettings, index_settings: IndexSettings,
                 units: UnitContext, cache_entries: int = 32):
        self.settings = settings
        self.index_settings = index_settings
        self.cases = CaseCache(self.settings)
        self.units = units
        self._answers: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._size = cache_entries
        self.warm_thread: threading.Thread | None = None

    def warm(self, engine: Engine) -> None:
        """Bring the cases and their repeat flags up to date now.

        Run after a change, in the background, so the next answer does not wait for them.
        """
        from geo.cases.index import REPEAT_DAYS, REPEAT_RADIUS_M
        from geo.cases.repeats import repeat_flags
        from geo.errors import InvalidInput

        cases = self.cases.get(engine)
        try:
            repeat_flags(cases, REPEAT_RADIUS_M, REPEAT_DAYS)
        except InvalidInput:  # too dense to link: the index leaves the component out
            pass

    def start_warm_up(self, engine: Engine) -> threading.Thread | None:
        """:meth:`warm` in a daemon thread (None when ``ONEMAP_CASE_WARM_UP`` is off).

        A failure (no database yet, tables not migrated) is logged, not raised: the
        requests that follow report it.
        """
        if not self.settings.warm_up:
            return None

        def run():
            started = time.monotonic()
            try:
                self.warm(engine)
            except Exception as exc:  # noqa: BLE001 - a warm-up never fails the app
                log.info("case warm-up skipped: %s", exc)
                return
            log.info("case warm-up: %d cases in %.1f s", len(self.cases.get(engine)),
                     time.monotonic() - started)

        thread = threading.Thread(target=run, daemon=True, name="onemap-case-warm-up")
        self.warm_thread = thread
        thread.start()
        return thread

    def latest_month(self, engine: Engine) -> str:
        """The month of the newest case (the default period)."""
        cases = self.cases.get(engine)
        occ = cases.frame["occurred_at"].to_numpy()
        occ = occ[occ != NAT]
        if len(occ) == 0:
            raise NotEnoughData("no cases loaded")
        newest = from_us(int(occ.max())).astimezone(ZoneInfo(self.settings.timezone))
        return f"{newest.year}-{newest.month:02d}"

    def index(self, engine: Engine, level: str = "community", period: str | None = None,
              weights: str | None = None, *, store: bool = True) -> dict:
        """The 平安指数 answer (cached while the data stay the same; stored when asked)."""
        w = parse_weights(weights)
        p = Period.parse(period or self.latest_month(engine), self.settings.timezone)
        cases = self.cases.get(engine)
        self.units.households(engine, level)  # brings the unit context up to date
        key = (cases.key, self.units.key, self.units.component_key(engine, COMPONENTS), level,
               p.key, tuple(sorted((w or {}).items())))
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = compute_index(cases, self.units, engine, level, p, self.index_settings, w)
        if store and w is None:
            store_index(engine, answer)
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)
        return answer

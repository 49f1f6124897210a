"""What the app holds while it runs: every settings object and every long-lived service.

``AppState.build`` reads each settings class once (from the environment unless
given) and makes every cache and service the routes use: the hotspot caches, the
tile service, the coverage and response caches, the case-flow answers, the
metrics. Nothing here touches the database; ``start`` (in the app's lifespan)
starts the background warm-ups and ``close`` stops them and releases connections.
Routes reach each object through one small dependency in ``api/deps.py``; tests
build their own state with their own settings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy import Engine, event

from api.bodies import BodyDecoder
from api.dbwatch import DbWatch, track_sockets
from api.metrics import Metrics
from api.ogc.settings import OgcSettings
from api.settings import ApiSettings
from geo.cases.answers import CaseService
from geo.cases.settings import CaseSettings, IndexSettings
from geo.cases.units import UnitContext, providers
from geo.coverage.gapstore import Refresher
from geo.coverage.settings import CoverageSettings
from geo.coverage.summary import ResultCache
from geo.dashboard.settings import DashboardSettings
from geo.db.engine import make_engine
from geo.db.urls import libpq_url
from geo.gridplan.compiled import load_compiled_in_background
from geo.gridplan.settings import GridPlanSettings
from geo.hotspots.runtime import HotspotService
from geo.hotspots.settings import HotspotSettings
from geo.hotspots.warmup import WarmUp, start_warm_up
from geo.io.settings import IngestSettings
from geo.response.context import ResponseCache
from geo.response.settings import ResponseSettings
from geo.response.warm import ResponseWarmer
from geo.settings import DatabaseSettings, LocalTimeSettings, ServiceAreaSettings
from geo.widget import WidgetRules
from tiles.hotspots import hotspot_source
from tiles.service import TileService
from tiles.settings import TileSettings

RESPONSE_ANSWERS_KEPT = 48  # area answers kept by the response routes


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset that skips asyncpg's RESET ALL/UNLISTEN round trip on every release.

    asyncpg still rolls back an open transaction before calling this. Our pool users keep
    no session state (timeouts are ``SET LOCAL`` or per call; LISTEN has its own
    connection), so there is nothing to reset.
    """


@dataclass
class AppState:
    """Settings and long-lived resources of one app instance.

    The settings fields are read from the environment when not given; the services
    (``hotspots``, ``tiles``, ``coverage_cache``, ``gaps_refresher``,
    ``response_cache``, ``response_answers``, ``response_warmer``, ``cases``,
    ``metrics``, ``widget``) are made from them in ``__post_init__``.
    """

    api: ApiSettings
    db: DatabaseSettings
    area: ServiceAreaSettings
    engine: Engine
    watch: DbWatch
    time: LocalTimeSettings = field(default_factory=LocalTimeSettings)
    ingest_settings: IngestSettings = field(default_factory=IngestSettings)
    hotspot_settings: HotspotSettings = field(default_factory=HotspotSettings)
    tile_settings: TileSettings = field(default_factory=TileSettings)
    coverage_settings: CoverageSettings = field(default_factory=CoverageSettings)
    response_settings: ResponseSettings = field(default_factory=ResponseSettings)
    case_settings: CaseSettings = field(default_factory=CaseSettings)
    index_settings: IndexSettings = field(default_factory=IndexSettings)
    grid_settings: GridPlanSettings = field(default_factory=GridPlanSettings)
    ogc_settings: OgcSettings = field(default_factory=OgcSettings)
    dashboard_settings: DashboardSettings = field(default_factory=DashboardSettings)
    bodies: BodyDecoder | None = None
    _pool: asyncpg.Pool | None = None
    _pool_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _hotspot_warm_up: WarmUp | None = None

    @classmethod
    def build(
        cls,
        api: ApiSettings | None = None,
        db: DatabaseSettings | None = None,
        area: ServiceAreaSettings | None = None,
        **settings,
    ) -> AppState:
        """Make the state from settings (reads the environment for those not given).

        ``settings`` may give any of the settings fields by name
        (``hotspot_settings=HotspotSettings(...)``, ``response_settings=…``).
        """
        db = db if db is not None else DatabaseSettings()
        engine = make_engine(db)
        watch = DbWatch(libpq_url(db), db.hang_probe_s)
        watch.psycopg_conns = track_sockets(engine)

        @event.listens_for(engine, "do_connect")
        def _refuse_while_hung(*_args) -> None:
            watch.check()

        return cls(api if api is not None else ApiSettings(), db,
                   area if area is not None else ServiceAreaSettings(), engine, watch,
                   **settings)

    def __post_init__(self) -> None:
        if self.bodies is None:
            self.bodies = BodyDecoder(self.api.body_process_above_bytes)
        self.widget: WidgetRules = self.api.widget_rules(
            self.tile_settings.tile_widget_camera_cell, self.time.local_timezone)
        self.metrics = Metrics()
        self.hotspots = HotspotService(self.engine, self.hotspot_settings, self.area)
        self.tiles = self._tile_service()
        self.coverage_cache = ResultCache()
        self.gaps_refresher = Refresher()
        self.response_cache = ResponseCache()
        self.response_answers = ResponseCache(size=RESPONSE_ANSWERS_KEPT)
        self.response_warmer = ResponseWarmer(self.engine, self.response_cache,
                                              self.response_answers, self.response_settings,
                                              self.area)
        # The 平安指数's response component reads the response cache the warmer keeps warm.
        components = providers(self.coverage_settings, self.response_settings, self.area,
                               cache=self.response_cache)
        self.cases = CaseService(self.case_settings, self.index_settings,
                                 UnitContext(components))

    def _tile_service(self) -> TileService:
        service = TileService(self.tile_settings, self.pool, libpq_url(self.db), self.widget,
                              hotspots=hotspot_source(self.hotspots),
                              observer=self.metrics.observe_render)
        self.metrics.cache_bytes.set_function(lambda: service.cache.nbytes)
        self.metrics.cache_entries.set_function(lambda: len(service.cache))
        return service

    def start(self) -> None:
        """Start the background work: warm-ups, the hang watch.

        Warmed: hotspots, response, cases and grid planning's compiled parts.
        """
        self._hotspot_warm_up = start_warm_up(self.hotspots)
        load_compiled_in_background()
        self.response_warmer.start()
        self.cases.start_warm_up(self.engine)
        self.watch.start()  # notices a hung database (api/dbwatch.py)

    async def pool(self) -> asyncpg.Pool:
        """The asyncpg pool, created on first use so the app starts without a database.

        Raises DatabaseUnavailable at once while the database is marked hung.
        """
        self.watch.check()
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        libpq_url(self.db),
                        min_size=1,
                        max_size=16,
                        timeout=self.db.connect_timeout_s,
                        command_timeout=self.db.statement_timeout_ms / 1000,
                        reset=_keep_session,
                        init=self.watch.adopt,
                        server_settings={
                            "statement_timeout": str(self.db.statement_timeout_ms),
                            "application_name": "onemap-tiles",
                            "jit": "off",
                        },
                    )
        return self._pool

    async def close(self) -> None:
        """Stop the background work and release connections."""
        if self._hotspot_warm_up is not None:
            await self._hotspot_warm_up.stop()
        await self.response_warmer.stop()
        if self.cases.warm_thread is not None:
            await asyncio.to_thread(self.cases.warm_thread.join)
        await self.tiles.close()
        await self.watch.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self.bodies.close()
        self.engine.dispose()

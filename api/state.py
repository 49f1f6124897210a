"""What the app holds while it runs: settings, the engine, the asyncpg pool.

Built in the lifespan of ``create_app``; tests build their own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy import Engine, event

from api.bodies import BodyDecoder
from api.dbwatch import DbWatch, track_sockets
from api.settings import ApiSettings
from geo.db.engine import make_engine
from geo.db.urls import libpq_url
from geo.settings import DatabaseSettings, LocalTimeSettings, ServiceAreaSettings
from geo.widget import WidgetRules


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset that skips asyncpg's RESET ALL/UNLISTEN round trip on every release.

    asyncpg still rolls back an open transaction before calling this. Our pool users keep
    no session state (timeouts are ``SET LOCAL`` or per call; LISTEN has its own
    connection), so there is nothing to reset.
    """


@dataclass
class AppState:
    """Long-lived resources of one app instance."""

    api: ApiSettings
    db: DatabaseSettings
    area: ServiceAreaSettings
    engine: Engine
    watch: DbWatch
    time: LocalTimeSettings = field(default_factory=LocalTimeSettings)
    bodies: BodyDecoder | None = None
    _pool: asyncpg.Pool | None = None
    _pool_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _widget: WidgetRules | None = None

    @classmethod
    def build(
        cls,
        api: ApiSettings | None = None,
        db: DatabaseSettings | None = None,
        area: ServiceAreaSettings | None = None,
    ) -> AppState:
        """Make the state from settings (reads the environment for those not given)."""
        db = db or DatabaseSettings()
        engine = make_engine(db)
        watch = DbWatch(libpq_url(db), db.hang_probe_s)
        watch.psycopg_conns = track_sockets(engine)

        @event.listens_for(engine, "do_connect")
        def _refuse_while_hung(*_args) -> None:
            watch.check()

        return cls(api or ApiSettings(), db, area or ServiceAreaSettings(), engine, watch)

    @property
    def widget(self) -> WidgetRules:
        """The widget role's rules (``geo.widget``), from the API and tile settings."""
        if self._widget is None:
            from tiles.settings import TileSettings

            tiles = TileSettings()
            self._widget = self.api.widget_rules(tiles.tile_widget_camera_cell,
                                                 self.time.local_timezone)
        return self._widget

    def __post_init__(self) -> None:
        if self.bodies is None:
            self.bodies = BodyDecoder(self.api.body_process_above_bytes)

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
        """Release connections."""
        await self.watch.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self.bodies.close()
        self.engine.dispose()

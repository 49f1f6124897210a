"""What the app holds while it runs: settings, the engine, the asyncpg pool.

Built in the lifespan of ``create_app``; tests build their own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy import Engine

from api.bodies import BodyDecoder
from api.settings import ApiSettings
from geo.db.engine import make_engine
from geo.db.urls import libpq_url
from geo.settings import DatabaseSettings, LocalTimeSettings, ServiceAreaSettings


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
    time: LocalTimeSettings = field(default_factory=LocalTimeSettings)
    bodies: BodyDecoder | None = None
    _pool: asyncpg.Pool | None = None
    _pool_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def build(
        cls,
        api: ApiSettings | None = None,
        db: DatabaseSettings | None = None,
        area: ServiceAreaSettings | None = None,
    ) -> AppState:
        """Make the state from settings (reads the environment for those not given)."""
        db = db or DatabaseSettings()
        return cls(api or ApiSettings(), db, area or ServiceAreaSettings(), make_engine(db))

    def __post_init__(self) -> None:
        if self.bodies is None:
            self.bodies = BodyDecoder(self.api.body_process_above_bytes)

    async def pool(self) -> asyncpg.Pool:
        """The asyncpg pool, created on first use so the app starts without a database."""
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        libpq_url(self.db),
                        min_size=1,
                        max_size=16,
                        timeout=5,
                        command_timeout=self.db.statement_timeout_ms / 1000,
                        reset=_keep_session,
                        server_settings={
                            "statement_timeout": str(self.db.statement_timeout_ms),
                            "application_name": "onemap-tiles",
                            "jit": "off",
                        },
                    )
        return self._pool

    async def close(self) -> None:
        """Release connections."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self.bodies.close()
        self.engine.dispose()

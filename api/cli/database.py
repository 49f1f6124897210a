"""The configured database as the commands open it: an unreachable server is one clear line.

Every command that works on the database opens it with :func:`open_engine`; a
``sqlalchemy.exc.OperationalError`` raised inside (the server is down, refuses the
connection, drops it) becomes :class:`geo.errors.DatabaseUnavailable`, which the
CLI prints as one line telling how to start it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from geo.settings import DatabaseSettings


@contextmanager
def reachable() -> Iterator[None]:
    """Turn a lost or refused connection inside the block into ``DatabaseUnavailable``."""
    from sqlalchemy.exc import OperationalError

    from geo.errors import DatabaseUnavailable

    try:
        yield
    except OperationalError as exc:
        first = (str(exc.orig).strip().splitlines() or [""])[0]
        raise DatabaseUnavailable(
            f"cannot reach the database ({first}); start it with `onemap db up`") from None


@contextmanager
def open_engine(settings: DatabaseSettings | None = None) -> Iterator[Engine]:
    """An engine on ``settings`` (default: from the environment), disposed on leaving.

    Connection failures inside the block are reported as by :func:`reachable`.
    """
    from geo.db.engine import make_engine
    from geo.settings import DatabaseSettings

    engine = make_engine(settings if settings is not None else DatabaseSettings())
    try:
        with reachable():
            yield engine
    finally:
        engine.dispose()

"""Checks before the service listens."""

from __future__ import annotations

import ipaddress

from geo.errors import OnemapError


class RefuseToListen(OnemapError):
    """Bound beyond loopback with no API key to protect the data."""

    code = "no_api_keys"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(host: str) -> str:
    """The one line printed when the service refuses to listen."""
    return (f"refusing to listen on {host} without API keys: create one with "
            "`onemap keys create --role admin`, or bind to 127.0.0.1")


def check_can_listen(host: str, db) -> None:
    """Refuse to listen beyond loopback unless an active API key exists.

    Parameters
    ----------
    host : str
        The address the service will bind.
    db : geo.settings.DatabaseSettings
        Where the keys are.

    Raises
    ------
    RefuseToListen
        Non-loopback and no active key; the message is one line saying what to do.
    geo.errors.DatabaseUnavailable
        The keys cannot be checked.
    """
    if is_loopback(host):
        return
    from sqlalchemy.exc import SQLAlchemyError

    from geo.db.engine import make_engine
    from geo.errors import DatabaseUnavailable
    from geo.keys import has_active_keys

    engine = make_engine(db)
    try:
        ok = has_active_keys(engine)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(
            f"cannot check API keys before listening on {host}: database unavailable"
        ) from exc
    finally:
        engine.dispose()
    if not ok:
        raise RefuseToListen(refusal(host))

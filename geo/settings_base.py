"""What every settings class shares: the variable naming scheme and the common checks.

Every variable is ``ONEMAP_<CONCERN>_<NAME>``: a class reads the variables of one concern
(``concern("HOTSPOT")`` → ``ONEMAP_HOTSPOT_RES``, ``ONEMAP_HOTSPOT_K`` …). A field read
under another name says so with ``validation_alias`` (e.g. ``ONEMAP_LOCAL_TIMEZONE``, the one
zone setting, or ``ONEMAP_DATABASE_URL``, fixed by the project's contract); the field's own
name is then accepted as a keyword too. ``api.config_reference`` lists them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic_settings import SettingsConfigDict

PREFIX = "ONEMAP_"


def concern(name: str = "") -> SettingsConfigDict:
    """Model config of a settings class reading ``ONEMAP_<name>_*`` (``ONEMAP_*`` for "").

    Examples
    --------
    >>> concern("TILE")["env_prefix"]
    'ONEMAP_TILE_'
    """
    prefix = f"{PREFIX}{name}_" if name else PREFIX
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)


def known_zone(value: str) -> str:
    """``value`` when it names an IANA time zone, else ValueError.

    Examples
    --------
    >>> known_zone("Asia/Shanghai")
    'Asia/Shanghai'
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def number_map(value: Mapping, allowed: Iterable[str], what: str) -> dict[str, float]:
    """``value`` as ``{key: float ≥ 0}`` with every key in ``allowed``, else ValueError.

    Examples
    --------
    >>> number_map({"hazard": 12}, ("hazard", "dispute"), "category")
    {'hazard': 12.0}
    """
    allowed = tuple(allowed)
    out = {}
    for key, number in dict(value).items():
        if key not in allowed:
            raise ValueError(f"unknown {what} {key!r}; known: {', '.join(allowed)}")
        if not isinstance(number, int | float) or isinstance(number, bool) or number < 0:
            raise ValueError(f"{what} {key!r} must be a number ≥ 0, not {number!r}")
        out[key] = float(number)
    return out

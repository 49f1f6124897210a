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

#: Variables renamed to follow the scheme: the old names are no longer read, and whoever
#: still sets one is told the new name (``renamed_variables``).
RENAMED = {
    **{f"ONEMAP_{n}": f"ONEMAP_API_{n}" for n in (
        "HOST", "PORT", "CORS_ORIGINS", "MAX_BODY_BYTES", "BODY_PROCESS_ABOVE_BYTES",
        "RATE_LIMIT_PER_MINUTE", "AUTH_FAILURES_PER_MINUTE")},
    **{f"ONEMAP_{n}": f"ONEMAP_DB_{n}" for n in (
        "STATEMENT_TIMEOUT_MS", "CONNECT_TIMEOUT_S", "HANG_PROBE_S")},
    **{f"ONEMAP_{n}": f"ONEMAP_INGEST_{n}" for n in (
        "PROGRESS_MIN_ROWS", "COPY_CHUNK_ROWS", "FUTURE_TOLERANCE_S", "BULK_MIN_ROWS")},
    "ONEMAP_SERVICE_BBOX": "ONEMAP_AREA_BBOX",
    "ONEMAP_OUTSIDE_TOLERANCE_M": "ONEMAP_AREA_OUTSIDE_TOLERANCE_M",
    "ONEMAP_METRIC_EPSG": "ONEMAP_AREA_METRIC_EPSG",
    "ONEMAP_BASE_MAP_URL": "ONEMAP_MAP_BASE_URL",
    "ONEMAP_ATTRIBUTION": "ONEMAP_MAP_BASE_ATTRIBUTION",
    "ONEMAP_CRS": "ONEMAP_MAP_BASE_CRS",
    "ONEMAP_LANGUAGE": "ONEMAP_MAP_LANGUAGE",
}


def renamed_variables(environ: Mapping[str, str]) -> list[str]:
    """One message per old variable name still set in ``environ``.

    Examples
    --------
    >>> renamed_variables({"ONEMAP_HOST": "0.0.0.0", "ONEMAP_API_PORT": "80"})
    ['ONEMAP_HOST is no longer read: set ONEMAP_API_HOST instead']
    """
    return [f"{old} is no longer read: set {new} instead"
            for old, new in RENAMED.items() if old in environ]


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

"""Query parameters parsed once for the whole service: one function per kind.

Every route (hotspots, heatmap, tiles, OGC items, the map summary, coverage, grid
plans …) reads its bbox, time window, categories, sources, H3 resolution, ids and free
text through these functions, usually by way of the FastAPI dependencies in
``api.params``. Bad values raise :class:`~geo.errors.InvalidInput` (HTTP 400) with a
message that names the parameter; no value can reach the database or numpy unchecked.

Rules
-----
* **Local time.** A time without an offset is local time in ``tz`` (the one setting
  ``ONEMAP_LOCAL_TIMEZONE``, :class:`geo.settings.LocalTimeSettings`), everywhere.
* **Windows** are half-open ``[from, to)``; a date-only ``to`` means the end of that
  day. Times lie in ``TIME_MIN`` .. ``TIME_MAX`` (years 1900–2199): no overflow in
  Python, numpy or PostgreSQL.
* **Relative times** (where a route offers them): ``now`` and ``-P…`` durations
  (``-P30D``, ``-PT6H``, ``-P2W``), at most ``MAX_DURATION`` back.
* **Text** never holds a NUL or other control character and is at most
  ``MAX_TEXT`` characters (PostgreSQL refuses NUL in text).
* **Ids** are positive and fit a PostgreSQL ``bigint``.

Examples
--------
>>> parse_bbox("118,36.7,118.1,36.9")
(118.0, 36.7, 118.1, 36.9)
>>> parse_time("2026-03-01T08:00", "from", tz="Asia/Shanghai").isoformat()
'2026-03-01T08:00:00+08:00'
>>> w = parse_window("2026-03-01", "2026-03-01", tz="UTC")
>>> w.t0.isoformat(), w.t1.isoformat()
('2026-03-01T00:00:00+00:00', '2026-03-02T00:00:00+00:00')
>>> parse_choices("hazard,dispute", CATEGORIES, "category")
('dispute', 'hazard')
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from geo.errors import InvalidInput
from geo.vocabulary import CATEGORIES, H3_RESOLUTIONS, SOURCES

__all__ = [
    "BIGINT_MAX", "CATEGORIES", "SOURCES", "TEXT_PATTERN", "TIME_MIN", "TIME_MAX", "Bbox",
    "TimeWindow", "check_text", "parse_bbox", "parse_choices", "parse_id", "parse_interval",
    "parse_res", "parse_time", "parse_window", "zone",
]

Bbox = tuple[float, float, float, float]

TIME_MIN = datetime(1900, 1, 1, tzinfo=UTC)
TIME_MAX = datetime(2200, 1, 1, tzinfo=UTC)
MAX_DURATION = timedelta(days=36_600)  # a century back from now
MAX_TEXT = 1_000
BIGINT_MAX = 2**63 - 1

_DURATION = re.compile(
    r"^-P(?:(?P<w>\d{1,6})W)?(?:(?P<d>\d{1,8})D)?"
    r"(?:T(?:(?P<h>\d{1,9})H)?(?:(?P<m>\d{1,10})M)?(?:(?P<s>\d{1,12})S)?)?$"
)
_FRACTION = re.compile(r"(\.\d{6})\d+")  # nanoseconds → microseconds
# Text without NUL or other control characters (tab, CR and LF allowed), as a JSON
# Schema pattern: request models use it (``api.params.Text``), check_text enforces it.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def zone(tz: str) -> ZoneInfo:
    """The ``ZoneInfo`` of a zone name; an unknown name is InvalidInput."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {tz!r}") from None


def check_text(value: str | None, name: str, *, max_len: int = MAX_TEXT) -> str | None:
    """``value`` if it is text PostgreSQL can store and compare, else InvalidInput.

    >>> check_text("街道 3", "name")
    '街道 3'
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text")
    if _CONTROL.search(value):
        raise InvalidInput(f"{name} must not contain NUL or other control characters")
    if len(value) > max_len:
        raise InvalidInput(f"{name} is longer than {max_len} characters")
    return value


def parse_bbox(value: str | Iterable[float] | None, name: str = "bbox", *,
               allow_3d: bool = False) -> Bbox | None:
    """``lon_min,lat_min,lon_max,lat_max`` in degrees → a checked tuple (None when absent).

    ``allow_3d`` accepts the six numbers of an OGC 3-D bbox and drops the heights.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        check_text(value, name)
        parts: list = value.split(",")
    else:
        parts = list(value)
    if allow_3d and len(parts) == 6:
        parts = [parts[0], parts[1], parts[3], parts[4]]
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be four numbers: lon_min,lat_min,lon_max,lat_max"
                           ) from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise InvalidInput(f"{name} values must be finite numbers")
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise InvalidInput(f"{name} out of range or empty: {x0},{y0},{x1},{y1} (outside lon "
                           "-180..180, lat -90..90, or not min < max; no antimeridian crossing)")
    return (x0, y0, x1, y1)


def parse_time(value: str | datetime | None, name: str, *, tz: str, end: bool = False,
               now: datetime | None = None, quantum_s: int | None = None) -> datetime | None:
    """ISO 8601 text (any precision) → an aware datetime (None when absent).

    The offset given is kept; a naive time gets the local zone ``tz``.

    Parameters
    ----------
    value : str or datetime or None
        The time; without an offset it is local time in ``tz``.
    name : str
        Parameter name, for messages.
    tz : str
        The local time zone (``ONEMAP_LOCAL_TIMEZONE``).
    end : bool
        A date-only value means the start of the next day (the end of that day).
    now : datetime, optional
        Given, ``now`` and ``-P…`` durations are accepted, relative to it.
    quantum_s : int, optional
        Relative times are rounded down to this many seconds (shared cache keys).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        out = value
    else:
        text = check_text(str(value), name, max_len=64).strip()
        if now is not None:
            relative = _relative(text, name, now)
            if relative is not None:
                return _floor(relative, quantum_s) if quantum_s else relative
        out = _absolute(text, name, end)
    if out.tzinfo is None:
        out = out.replace(tzinfo=zone(tz))
    try:
        inside = TIME_MIN <= out.astimezone(UTC) <= TIME_MAX
    except OverflowError:
        inside = False
    if not inside:
        raise InvalidInput(f"{name}={value!s} is outside {TIME_MIN:%Y}..{TIME_MAX.year - 1}")
    return out


def _absolute(text: str, name: str, end: bool) -> datetime:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end:
                day = day + timedelta(days=1)
            return datetime.combine(day, time())
        return datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    except OverflowError:
        raise InvalidInput(f"{name}={text!r} is outside {TIME_MIN:%Y}..{TIME_MAX.year - 1}"
                           ) from None
    except ValueError:
        raise InvalidInput(f"{name}={text!r} is not an ISO 8601 (RFC 3339) date or time"
                           ) from None


def _relative(text: str, name: str, now: datetime) -> datetime | None:
    if text.lower() == "now":
        return now.astimezone(UTC)
    match = _DURATION.match(text.upper())
    if not match or not any(match.groupdict().values()):
        return None
    g = {k: int(v or 0) for k, v in match.groupdict().items()}
    try:
        delta = timedelta(weeks=g["w"], days=g["d"], hours=g["h"], minutes=g["m"],
                          seconds=g["s"])
    except OverflowError:
        delta = None
    if delta is None or delta > MAX_DURATION:
        raise InvalidInput(f"{name}={text!r} reaches back more than "
                           f"{MAX_DURATION.days} days")
    return now.astimezone(UTC) - delta


def _floor(t: datetime, quantum_s: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % quantum_s, UTC)


@dataclass(frozen=True)
class TimeWindow:
    """A half-open window ``[t0, t1)`` in UTC; either end may be open (None)."""

    t0: datetime | None = None
    t1: datetime | None = None

    def echo(self) -> dict:
        """JSON-ready ``{"from", "to"}``."""
        return {"from": self.t0.isoformat() if self.t0 else None,
                "to": self.t1.isoformat() if self.t1 else None}


def parse_window(t0: str | datetime | None, t1: str | datetime | None, *, tz: str,
                 names: tuple[str, str] = ("from", "to"), now: datetime | None = None,
                 quantum_s: int | None = None) -> TimeWindow:
    """``from``/``to`` → a :class:`TimeWindow`; ``from`` must come before ``to``."""
    a = parse_time(t0, names[0], tz=tz, now=now, quantum_s=quantum_s)
    b = parse_time(t1, names[1], tz=tz, end=True, now=now, quantum_s=quantum_s)
    if a is not None and b is not None and a >= b:
        raise InvalidInput(f"{names[0]} ({a.isoformat()}) must be before "
                           f"{names[1]} ({b.isoformat()})")
    return TimeWindow(a, b)


def parse_interval(value: str | None, *, tz: str,
                   name: str = "datetime") -> tuple[datetime | None, datetime | None]:
    """OGC ``datetime``: an instant, or ``start/end`` with ``..``/empty for open ends.

    Both ends are inclusive (OGC API Features); a single instant gives ``(t, t)``.
    """
    if value is None or value == "":
        return None, None
    check_text(value, name, max_len=130)
    if "/" not in value:
        t = parse_time(value, name, tz=tz)
        return t, t
    a, _, b = value.partition("/")
    start = None if a in ("", "..") else parse_time(a, name, tz=tz)
    end = None if b in ("", "..") else parse_time(b, name, tz=tz)
    if start and end and start > end:
        raise InvalidInput(f"{name}={value!r}: the start is after the end")
    return start, end


def parse_choices(value: str | Iterable[str] | None, allowed: tuple[str, ...],
                  name: str) -> tuple[str, ...]:
    """Comma-separated (or listed) choices → sorted unique tuple (empty = all)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = value.split(",")
    else:
        items = [p for v in value for p in str(v).split(",")]
    items = [str(v).strip() for v in items if str(v).strip()]
    unknown = sorted(set(items) - set(allowed))
    if unknown:
        shown = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise InvalidInput(f"unknown {name} {shown}; known: {', '.join(allowed)}")
    return tuple(sorted(set(items)))


def parse_res(value: int | str | None, name: str = "res", *,
              allowed: tuple[int, ...] = H3_RESOLUTIONS) -> int | None:
    """An H3 resolution among ``allowed`` (6..12), None when absent."""
    if value is None or value == "":
        return None
    try:
        res = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be an integer, got {str(value)[:40]!r}") from None
    if res not in allowed:
        raise InvalidInput(f"{name} must be an H3 resolution from {allowed[0]} to "
                           f"{allowed[-1]}, got {res}")
    return res


def parse_id(value: int | str | None, name: str) -> int | None:
    """A database id: a positive integer that fits ``bigint`` (None when absent)."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    try:
        out = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{name}={str(value)[:40]!r} is not a {name} id "
                           "(a positive integer)") from None
    if not 0 < out <= BIGINT_MAX:
        raise InvalidInput(f"{name}={out} is not a {name} id (1..{BIGINT_MAX})")
    return out

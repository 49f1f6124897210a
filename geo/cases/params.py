"""Query parameters of the case-flow answers: the window and the moment ``at``.

Times are parsed by the service's one parser (:func:`geo.params.parse_time`):
ISO 8601 of any precision, a time without an offset in local time, a date-only ``to``
meaning the end of that day.
"""

from __future__ import annotations

from datetime import UTC, datetime

from geo.cases.figures import Window, to_us
from geo.params import parse_time, parse_window


def window(frm=None, to=None, at=None, *, tz: str) -> Window:
    """``[from, to)`` and ``at`` (default: now) as a :class:`Window`."""
    w = parse_window(frm, to, tz=tz)
    t0, t1 = w.t0, w.t1
    moment = parse_time(at, "at", tz=tz) or datetime.now(UTC)
    return Window(None if t0 is None else to_us(t0), None if t1 is None else to_us(t1),
                  to_us(moment))


def moment(at=None, *, tz: str) -> int:
    """``at`` (default now) in µs since the Unix epoch."""
    return to_us(parse_time(at, "at", tz=tz) or datetime.now(UTC))

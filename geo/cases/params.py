"""Query parameters of the case-flow answers: the window and the moment ``at``.

Times are parsed by the hotspots' one parser (:func:`geo.hotspots.params.parse_time`):
ISO 8601, a time without an offset in the case timezone, a date-only ``to`` meaning
the end of that day.
"""

from __future__ import annotations

from datetime import UTC, datetime

from geo.cases.figures import Window, to_us
from geo.errors import InvalidInput
from geo.hotspots.params import parse_time


def window(frm=None, to=None, at=None, *, tz: str) -> Window:
    """``[from, to)`` and ``at`` (default: now) as a :class:`Window`."""
    t0, t1 = parse_time(frm, tz), parse_time(to, tz, end=True)
    moment = parse_time(at, tz) or datetime.now(UTC)
    if t0 and t1 and t0 >= t1:
        raise InvalidInput(f"from ({t0.isoformat()}) must be before to ({t1.isoformat()})")
    return Window(None if t0 is None else to_us(t0), None if t1 is None else to_us(t1),
                  to_us(moment))


def moment(at=None, *, tz: str) -> int:
    """``at`` (default now) in µs since the Unix epoch."""
    return to_us(parse_time(at, tz) or datetime.now(UTC))

"""Report periods: a month ``2026-10`` or an ISO week ``2026-W44``, in the case timezone.

Examples
--------
>>> p = Period.parse("2026-10", "Asia/Shanghai")
>>> p.start.isoformat(), p.end.isoformat(), p.previous().key
('2026-10-01T00:00:00+08:00', '2026-11-01T00:00:00+08:00', '2026-09')
>>> Period.parse("2026-W01", "Asia/Shanghai").start.date().isoformat()
'2025-12-29'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from geo.errors import InvalidInput

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True)
class Period:
    """One month or ISO week: ``[start, end)`` as aware datetimes."""

    key: str
    kind: str  # "month" | "week"
    first: date
    tz: str

    @classmethod
    def parse(cls, text: str, tz: str) -> Period:
        """``2026-10`` or ``2026-W44``; anything else is InvalidInput."""
        value = str(text).strip()
        m = _MONTH.match(value)
        if m and 1 <= int(m[2]) <= 12 and 2000 <= int(m[1]) <= 2100:
            return cls(value, "month", date(int(m[1]), int(m[2]), 1), tz)
        w = _WEEK.match(value)
        if w and 2000 <= int(w[1]) <= 2100:
            try:
                first = date.fromisocalendar(int(w[1]), int(w[2]), 1)
            except ValueError:
                first = None
            if first is not None:
                return cls(value, "week", first, tz)
        raise InvalidInput(f"unknown period {text!r}: use a month like 2026-10 or an ISO week "
                           "like 2026-W44")

    @property
    def start(self) -> datetime:
        """First moment of the period."""
        return datetime.combine(self.first, time(), ZoneInfo(self.tz))

    @property
    def end(self) -> datetime:
        """First moment after the period."""
        return datetime.combine(self._next_first(), time(), ZoneInfo(self.tz))

    def _next_first(self) -> date:
        if self.kind == "week":
            return self.first + timedelta(days=7)
        y, m = self.first.year + self.first.month // 12, self.first.month % 12 + 1
        return date(y, m, 1)

    def shift(self, steps: int) -> Period:
        """The period ``steps`` periods later (negative: earlier)."""
        if self.kind == "week":
            first = self.first + timedelta(days=7 * steps)
            y, w, _ = first.isocalendar()
            return Period(f"{y}-W{w:02d}", "week", first, self.tz)
        months = self.first.year * 12 + self.first.month - 1 + steps
        first = date(months // 12, months % 12 + 1, 1)
        return Period(f"{first.year}-{first.month:02d}", "month", first, self.tz)

    def previous(self) -> Period:
        """The period before."""
        return self.shift(-1)

"""Incident trends: counts per day or week by category or source, with 环比 and 同比.

Buckets start at local midnight (weeks on Monday) in the configured time zone.
环比 compares the window with the window of the same length just before it;
同比 with the same window 52 weeks (364 days) earlier, so weekdays line up.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from geo.dashboard.window import WHERE, Window
from geo.errors import InvalidInput

STEPS = ("day", "week")
BY = ("category", "source")
MAX_BUCKETS = 800

_SERIES_SQL = """
    SELECT date_trunc(:step, i.occurred_at AT TIME ZONE :tz) AS bucket, i.{by} AS key,
           count(*) AS n
    FROM incidents i WHERE {where}
    GROUP BY 1, 2 ORDER BY 1, 2
"""
_TOTAL_SQL = text(f"SELECT count(*) FROM incidents i WHERE {WHERE}")


def trends(engine: Engine, window: Window, step: str = "day", by: str = "category",
           tz: str = "Asia/Shanghai") -> dict:
    """Counts per bucket and key, and the window's total against the previous and last year's.

    Examples
    --------
    >>> _change(120, 100), _change(5, 0)
    (0.2, None)
    """
    if step not in STEPS:
        raise InvalidInput(f"step must be one of {', '.join(STEPS)}, got {step!r}")
    if by not in BY:
        raise InvalidInput(f"by must be one of {', '.join(BY)}, got {by!r}")
    if window.days / (7 if step == "week" else 1) > MAX_BUCKETS:
        raise InvalidInput(f"at most {MAX_BUCKETS} {step}s per trend; shorten the window")
    ZoneInfo(tz)
    sql = text(_SERIES_SQL.format(by=by, where=WHERE))
    length = window.t1 - window.t0
    previous = window.shifted(window.t0 - length, window.t0)
    year_ago = window.shifted(window.t0 - timedelta(days=364), window.t1 - timedelta(days=364))
    with engine.connect() as conn:
        rows = conn.execute(sql, {**window.params(), "step": step, "tz": tz}).all()
        totals = [int(conn.execute(_TOTAL_SQL, w.params()).scalar_one())
                  for w in (window, previous, year_ago)]
    buckets = sorted({r.bucket for r in rows})
    index = {b: i for i, b in enumerate(buckets)}
    series: dict[str, list[int]] = {}
    for r in rows:
        series.setdefault(r.key, [0] * len(buckets))[index[r.bucket]] = int(r.n)
    return {
        "step": step, "by": by, "timezone": tz,
        "from": window.t0.isoformat(), "to": window.t1.isoformat(),
        "buckets": [b.date().isoformat() for b in buckets], "series": series,
        "total": totals[0],
        "previous": {"from": previous.t0.isoformat(), "to": previous.t1.isoformat(),
                     "total": totals[1], "change": _change(totals[0], totals[1])},
        "year_ago": {"from": year_ago.t0.isoformat(), "to": year_ago.t1.isoformat(),
                     "total": totals[2], "change": _change(totals[0], totals[2])},
    }


def _change(now: int, before: int) -> float | None:
    return None if before == 0 else round((now - before) / before, 4)

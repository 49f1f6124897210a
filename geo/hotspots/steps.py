"""Time steps of an emerging-hot-spot cube.

* ``week``: 7-day steps aligned to the *end* of the window (as ArcGIS aligns
  its cube to the last time), so the final step is always complete; a partial
  week at the start is dropped.
* ``month``: calendar months in the hotspot timezone; ``from`` is moved up to
  the next month start and ``to`` down to a month start, so every step is a
  whole month.

Default window: ends at the local midnight after the last matching incident
(moved down to a month start for months), and spans 52 weeks or 12 months.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from geo.errors import NotEnoughData

WEEK = timedelta(days=7)


def default_end(last: datetime, tz: str) -> datetime:
    """Local midnight after ``last``."""
    local = last.astimezone(ZoneInfo(tz))
    return (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(t: datetime, tz: str, *, up: bool) -> datetime:
    """``t`` moved to a local month start (up = the next one unless already on one)."""
    local = pd.Timestamp(t).tz_convert(tz)
    floor = local.normalize().replace(day=1)
    if up and floor != local:
        floor = floor + pd.offsets.MonthBegin(1)
    return floor.to_pydatetime()


def step_edges(t0: datetime | None, t1: datetime, step: str, tz: str) -> list[datetime]:
    """Edges ``e_0 < … < e_T`` of the steps; step ``i`` is ``[e_i, e_{i+1})``."""
    if step == "week":
        start = t0 if t0 is not None else t1 - 52 * WEEK
        count = int((t1 - start) // WEEK)
        edges = [t1 - (count - i) * WEEK for i in range(count + 1)]
    else:
        end = month_start(t1, tz, up=False)
        start = (month_start(t0, tz, up=True) if t0 is not None
                 else (pd.Timestamp(end) - pd.DateOffset(months=12)).to_pydatetime())
        edges = [ts.to_pydatetime() for ts in pd.date_range(start, end, freq="MS")]
    if len(edges) < 4:
        raise NotEnoughData(f"the window holds {max(len(edges) - 1, 0)} whole {step}s; "
                            "emerging hot spots need at least 3 steps")
    return edges

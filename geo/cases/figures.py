"""Case-flow figures per unit and group (DESIGN §10), vectorised over :class:`Cases`.

Definitions (stated in every answer's ``method``):

* received: cases with ``occurred_at`` in ``[from, to)`` and not after ``at``;
* done: received cases whose status is resolved or closed, done by ``at`` (done time:
  ``resolved_at``, else ``closed_at``; a done case without either time counts as done);
* closure rate = done / received; on-time rate = done by the time limit / done (a done
  case without a done time is not on time); time limit = ``due_at``, else
  ``occurred_at`` + the category's hours;
* median and p90 hours to done: over done cases with a done time (linear interpolation);
* open overdue: received cases not done at ``at`` whose limit is before ``at``;
* satisfaction rate = (satisfied + basic) / rated received cases;
* reopen rate = done cases reopened at least once / done;
* from_110_share = received cases with ``routed_from`` 110 / received.

Rates with a zero denominator are null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from geo.cases.table import GROUPS, NAT, Cases, check_group, check_level
from geo.errors import NotEnoughData

METHOD = __doc__.split("Definitions (stated in every answer's ``method``):")[1].split(
    "Rates with")[0].replace("``", "").replace("\n", " ")
METHOD = " ".join(METHOD.replace("* ", "").split()) + " Rates with a zero denominator are null."
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(t: datetime) -> int:
    """Aware datetime → µs since the Unix epoch (exact)."""
    return (t - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    """Inverse of :func:`to_us` (UTC)."""
    return _EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True)
class Window:
    """``[t0, t1)`` (None: open) and the moment ``at`` (µs since the Unix epoch)."""

    t0: int | None
    t1: int | None
    at: int


def done_at(cases: Cases, at: int) -> np.ndarray:
    """Cases done by ``at``."""
    dt = cases.done_time
    return cases.done_status & ((dt == NAT) | (dt <= at))


def _groups(cases: Cases, level: str, by: str | None, rows: np.ndarray):
    """Per selected case: unit index, group index; and the group labels (None: empty)."""
    unit = cases.unit_codes[level][rows]
    if by is None:
        return unit, np.zeros(len(unit), dtype=np.int64), [None]
    codes, labels = cases.codes(by)
    group = codes[rows]
    # the empty value (−1) becomes the last group
    return unit, np.where(group < 0, len(labels), group), [*labels, None]


def _quantiles(key: np.ndarray, values: np.ndarray, n_keys: int, qs=(0.5, 0.9)):
    """Per key, the linear-interpolated quantiles of ``values`` (nan where empty)."""
    order = np.lexsort((values, key))
    k, v = key[order], values[order]
    counts = np.bincount(k, minlength=n_keys)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = []
    for q in qs:
        pos = q * (counts - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
        ok = counts > 0
        a = np.full(n_keys, np.nan)
        b = np.full(n_keys, np.nan)
        a[ok] = v[starts[ok] + lo[ok]]
        b[ok] = v[starts[ok] + hi[ok]]
        out.append(a + (b - a) * (pos - lo))
    return out


def _rate(num: np.ndarray, den: np.ndarray) -> list:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    return [None if d == 0 else float(x) for x, d in zip(r, den, strict=True)]


def summary(cases: Cases, level: str, window: Window, by: str | None = None) -> dict:
    """Figures per unit of ``level`` (and per group ``by``) for ``window``.

    Raises
    ------
    InvalidInput
        Unknown level or group.
    NotEnoughData
        No case was received in the window.
    """
    check_level(level)
    by = check_group(by)
    f = cases.frame
    occ = f["occurred_at"].to_numpy()
    rec = occ <= window.at
    if window.t0 is not None:
        rec &= occ >= window.t0
    if window.t1 is not None:
        rec &= occ < window.t1
    if level != "city":
        rec &= cases.unit_codes[level] >= 0
    rows = np.flatnonzero(rec)
    if len(rows) == 0:
        raise NotEnoughData("no cases were received in this window (and unit level)")
    unit, group, labels = _groups(cases, level, by, rows)
    n_groups = len(labels)
    units = (cases.units[level] if level != "city" else None)
    n_units = 1 if units is None else len(units)
    key = unit * n_groups + group
    n_keys = n_units * n_groups

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(key[mask], minlength=n_keys).astype(np.float64)

    done = done_at(cases, window.at)[rows]
    dt = cases.done_time[rows]
    limit = cases.limit[rows]
    known = done & (dt != NAT)
    on_time = known & (dt <= limit)
    overdue = ~done & (limit < window.at)
    rated, good = cases.rated[rows], cases.good[rows]
    reopened = done & cases.reopened_any[rows]
    from110 = cases.from_110[rows]
    hours = (dt[known] - occ[rows][known]) / 3.6e9
    median, p90 = _quantiles(key[known], hours, n_keys)
    n_rec, n_done = count(np.ones(len(rows), bool)), count(done)
    figures = {
        "received": n_rec, "done": n_done, "closure_rate": _rate(count(done), n_rec),
        "on_time_rate": _rate(count(on_time), n_done), "median_hours": median,
        "p90_hours": p90, "overdue_open": count(overdue),
        "satisfaction_rate": _rate(count(good), count(rated)),
        "reopen_rate": _rate(count(reopened), n_done),
        "from_110_share": _rate(count(from110), n_rec),
    }
    out = []
    for k in range(n_keys):
        u, g = divmod(k, n_groups)
        if by is not None and n_rec[k] == 0:
            continue
        code, name = ("city", "全市") if units is None else (units["code"][u], units["name"][u])
        row = {"code": code, "name": name}
        if by is not None:
            row["group"] = labels[g]
        for fname, values in figures.items():
            v = values[k]
            if fname in ("received", "done", "overdue_open"):
                v = int(v)
            elif isinstance(v, float) and np.isnan(v):
                v = None
            elif v is not None:
                v = float(v)
            row[fname] = v
        out.append(row)
    return {"level": level, "by": by, "units": out, "method": METHOD}


__all__ = ["GROUPS", "METHOD", "Window", "done_at", "from_us", "summary", "to_us"]

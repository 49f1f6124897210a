"""Case-flow figures per unit and group (ARCHITECTURE.md §10), vectorised over :class:`Cases`.

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

from geo.cases.table import (
    FROM_110,
    GOOD,
    GROUPS,
    NAT,
    RATED,
    REOPENED,
    Cases,
    check_group,
    check_level,
)
from geo.errors import NotEnoughData

METHOD = __doc__.split("Definitions (stated in every answer's ``method``):")[1].split(
    "Rates with")[0].replace("``", "").replace("\n", " ")
METHOD = " ".join(METHOD.replace("* ", "").split()) + " Rates with a zero denominator are null."
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DONE, _ON_TIME, _OVERDUE = 4, 5, 6  # state bits set per request (0–3: Cases.static_flags)


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


def _group_codes(cases: Cases, by: str | None) -> tuple[np.ndarray | None, list]:
    """Per case: group index (the empty value last); and the labels (None: empty)."""
    if by is None:
        return None, [None]
    codes, labels = cases.codes(by)
    return np.where(codes < 0, len(labels), codes), [*labels, None]


def _quantiles(cases: Cases, selected: np.ndarray, key: np.ndarray, n_keys: int,
               qs=(0.5, 0.9)):
    """Per key, linear-interpolated quantiles of the hours to done of ``selected`` cases.

    The cases are kept sorted by hours once (:attr:`Cases.hours_order`); a stable radix
    sort by key then groups them with the hours still in order.
    """
    order = cases.hours_order
    idx = order[selected[order]]
    k, v = key[idx], cases.hours[idx]
    small = np.int16 if n_keys < 2**15 else np.int64
    by_key = np.argsort(k.astype(small), kind="stable")
    v = v[by_key]
    counts = np.bincount(k, minlength=n_keys)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = []
    ok = counts > 0
    for q in qs:
        pos = q * (counts - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
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
    occ = cases.frame["occurred_at"].to_numpy()
    rec = occ <= window.at
    if window.t0 is not None:
        rec &= occ >= window.t0
    if window.t1 is not None:
        rec &= occ < window.t1
    unit = cases.unit_codes[level]
    if level != "city":
        rec &= unit >= 0
    group, labels = _group_codes(cases, by)
    n_groups = len(labels)
    units = (cases.units[level] if level != "city" else None)
    n_units = 1 if units is None else len(units)
    n_keys = n_units * n_groups
    key = unit if group is None else unit * n_groups + group
    key = np.where(rec, key, n_keys)  # cases outside the window go to a spare bin

    done = done_at(cases, window.at)
    dt, limit = cases.done_time, cases.limit
    known = done & (dt != NAT)
    # One bincount over (key, state): the state packs every flag of a case in 7 bits.
    state = (cases.static_flags | done.view(np.uint8) << _DONE
             | (known & (dt <= limit)).view(np.uint8) << _ON_TIME
             | (~done & (limit < window.at)).view(np.uint8) << _OVERDUE)
    table = np.bincount(key * 128 + state, minlength=(n_keys + 1) * 128)
    table = table[: n_keys * 128].reshape(n_keys, 128).astype(float)
    bits = np.arange(128)

    def count(bit: int | None = None, also: int | None = None) -> np.ndarray:
        if bit is None:
            return table.sum(axis=1)
        mask = (bits >> bit) & 1 if also is None else (bits >> bit) & (bits >> also) & 1
        return table[:, mask.astype(bool)].sum(axis=1)

    n_rec = count()
    if n_rec.sum() == 0:
        raise NotEnoughData("no cases were received in this window (and unit level)")
    n_done = count(_DONE)
    median, p90 = _quantiles(cases, known & rec, key, n_keys)
    figures = {
        "received": n_rec, "done": n_done, "closure_rate": _rate(n_done, n_rec),
        "on_time_rate": _rate(count(_ON_TIME), n_done), "median_hours": median,
        "p90_hours": p90, "overdue_open": count(_OVERDUE),
        "satisfaction_rate": _rate(count(GOOD), count(RATED)),
        "reopen_rate": _rate(count(REOPENED, also=_DONE), n_done),
        "from_110_share": _rate(count(FROM_110), n_rec),
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

"""平安指数 (safety index) and 四级预警 risk levels per unit and period (ARCHITECTURE.md §10).

Formula (stated in every answer's ``method``)::

    raw components per unit u and period P (cases received in P, figures at P's end):
      incidents    = Σ severity(case) / households × 1000               (lower is safer)
      overdue      = cases not done by their time limit / cases received  (lower is safer)
      satisfaction = (satisfied + basic) / rated                          (higher is safer)
      repeats      = repeat complaints / cases received                  (lower is safer)
      cameras      = share of public ground seen by cameras              (higher is safer)
      response     = share of households reached within 5 minutes       (higher is safer)
    each component is min–max normalised across the units of the level to a score 0–100
    (100 = best unit; all equal → 100; a unit without a value — no rated case, no case,
    fewer than 50 households for the incident rate — gets the level's mean);
    index = Σ w_c · score_c / Σ w_c over the components available at the level.

Severity: public_order 3, hazard 3, dispute 2, petitions 2, others 1 (``ONEMAP_INDEX_SEVERITY``);
weights ``ONEMAP_INDEX_WEIGHTS`` (incidents .40, overdue .20, satisfaction .15, cameras .15,
repeats .10, response 0 until response circles exist). Rank 1 is the safest unit.

Risk level from the index and its change since the previous period: ≥ 80 none,
60–80 blue, 40–60 yellow, 20–40 orange, < 20 red; a fall of at least
``ONEMAP_INDEX_WORSENING`` points (5) raises the level one step (at most red).
The city's index is the household-weighted mean of its communities' indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from geo.cases.figures import done_at, to_us
from geo.cases.period import Period
from geo.cases.repeats import repeat_flags
from geo.cases.settings import COMPONENTS, IndexSettings
from geo.cases.table import Cases
from geo.cases.units import UnitContext
from geo.errors import InvalidInput, NotEnoughData
from geo.vocabulary import UNIT_LEVELS

LEVELS = UNIT_LEVELS
RISK = ("none", "blue", "yellow", "orange", "red")
BANDS = (80.0, 60.0, 40.0, 20.0)  # lower edges of none, blue, yellow, orange
HIGHER_IS_SAFER = {"incidents": False, "overdue": False, "satisfaction": True,
                   "repeats": False, "cameras": True, "response": True}
MIN_HOUSEHOLDS = 50
REPEAT_RADIUS_M, REPEAT_DAYS = 50.0, 30.0
METHOD = " ".join(__doc__.split("Formula (stated in every answer's ``method``)::")[1]
                  .replace("``", "").split())


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``incidents:0.5,overdue:0.3`` → dict (None when empty); bad text is InvalidInput."""
    if not text:
        return None
    out = {}
    for part in str(text).split(","):
        name, sep, value = part.partition(":")
        name = name.strip()
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or name not in COMPONENTS or not np.isfinite(number) or number < 0:
            raise InvalidInput(f"weights must look like incidents:0.4,overdue:0.2 with "
                               f"components {', '.join(COMPONENTS)} and numbers ≥ 0; "
                               f"got {part!r}")
        out[name] = number
    if sum(out.values()) <= 0 and set(out) >= set(COMPONENTS):
        raise InvalidInput("the weights sum to 0")
    return out


def risk_level(index: float, change: float | None, worsening: float) -> str:
    """The 四级预警 level of an index and its change."""
    step = next((i for i, edge in enumerate(BANDS) if index >= edge), len(BANDS))
    if change is not None and change <= -worsening:
        step = min(step + 1, len(RISK) - 1)
    return RISK[step]


def _scores(raw: np.ndarray, higher_is_safer: bool) -> np.ndarray:
    x = raw.astype(float).copy()
    known = ~np.isnan(x)
    if not known.any():
        return np.full(len(x), np.nan)
    x[~known] = x[known].mean()
    lo, hi = x.min(), x.max()
    if hi - lo <= 1e-12:
        return np.full(len(x), 100.0)
    return 100 * ((x - lo) if higher_is_safer else (hi - x)) / (hi - lo)


def raw_components(cases: Cases, level: str, period: Period, households: dict[str, int],
                   severity: dict[str, float], codes: list[str]) -> dict[str, np.ndarray]:
    """Raw component values per unit in ``codes`` order (nan: no value)."""
    f = cases.frame
    t0, t1 = to_us(period.start), to_us(period.end)
    at = min(t1, to_us(datetime.now(UTC)))
    occ = f["occurred_at"].to_numpy()
    rows = np.flatnonzero((occ >= t0) & (occ < t1) & (cases.unit_codes[level] >= 0))
    index = {c: i for i, c in enumerate(codes)}
    lookup = np.array([index.get(c, -1) for c in cases.units[level]["code"]], dtype=np.int64) \
        if level != "city" else np.zeros(1, np.int64)
    unit = lookup[cases.unit_codes[level][rows]]
    rows, unit = rows[unit >= 0], unit[unit >= 0]
    n = len(codes)

    def count(mask=None, weights=None) -> np.ndarray:
        u = unit if mask is None else unit[mask]
        w = None if weights is None else (weights if mask is None else weights[mask])
        return np.bincount(u, weights=w, minlength=n).astype(float)

    cat_codes, cat_labels = cases.codes("category")
    per_label = np.array([*(severity.get(c, 1.0) for c in cat_labels), 1.0])
    sev = per_label[cat_codes[rows]]  # code −1 (no category): 1
    petition = cases.is_in("source", ("petition",))[rows]
    sev = np.where(petition, np.maximum(sev, severity.get("petition", 1.0)), sev)
    hh = np.array([int(households.get(c, 0)) for c in codes], float)
    hh[hh < MIN_HOUSEHOLDS] = np.nan  # no meaningful rate per household: the level's mean
    received = count()
    done = done_at(cases, at)[rows]
    dt, limit = cases.done_time[rows], cases.limit[rows]
    late = np.where(done, (dt != np.iinfo(np.int64).min) & (dt > limit), limit < at)
    rated, good = cases.rated[rows], cases.good[rows]
    try:  # linked once per data version for every period (repeat_flags keeps them)
        is_rep = repeat_flags(cases, REPEAT_RADIUS_M, REPEAT_DAYS)
        with np.errstate(invalid="ignore", divide="ignore"):
            repeat_rate = np.where(received > 0, count(is_rep[rows]) / received, np.nan)
    except InvalidInput:  # too many cases close together to link: the component is left out
        repeat_rate = np.full(n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"incidents": count(weights=sev) / hh * 1000,
                "overdue": np.where(received > 0, count(late) / received, np.nan),
                "satisfaction": np.where(count(rated) > 0, count(good) / count(rated), np.nan),
                "repeats": repeat_rate,
                "received": received}


def compute_index(cases: Cases, ctx: UnitContext, engine, level: str, period: Period,
                  settings: IndexSettings,
                  weights: dict[str, float] | None = None) -> dict:
    """Index, components, rank and level per unit of ``level`` for ``period``."""
    if level not in LEVELS:
        raise InvalidInput(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    if level == "city":
        return _city(cases, ctx, engine, period, settings, weights)
    current = _level_index(cases, ctx, engine, level, period, settings, weights)
    if current.received.sum() == 0:
        raise NotEnoughData(f"no cases were received in {period.key}")
    previous = _level_index(cases, ctx, engine, level, period.previous(), settings, weights)
    has_prev = previous.received.sum() > 0
    idx = current.index
    order = np.argsort(-idx, kind="stable")
    rank = np.empty(len(idx), int)
    rank[order] = np.arange(1, len(idx) + 1)
    names = dict(zip(cases.units[level]["code"], cases.units[level]["name"], strict=True))
    features = []
    for i, code in enumerate(current.codes):
        change = float(idx[i] - previous.index[i]) if has_prev else None
        comps = {c: {"value": _num(current.raw[c][i]),
                     "score": _num(current.scores[c][i]),
                     "weight": current.weights.get(c, 0.0)}
                 for c in current.raw if c != "received"}
        props = {"code": code, "name": names.get(code, code), "index": float(idx[i]),
                 "rank": int(rank[i]), "change": change,
                 "level": risk_level(float(idx[i]), change, settings.worsening),
                 "received": int(current.received[i]),
                 "households": int(ctx.households(engine, level).get(code, 0)),
                 "components": comps}
        geom = ctx.outline(engine, level, code)
        features.append({"type": "Feature", "id": code, "properties": props,
                         "geometry": _geometry(geom)})
    return {"type": "FeatureCollection", "level": level, "period": period.key,
            "previous": period.previous().key, "weights": current.weights,
            "left_out": current.left_out, "method": METHOD, "features": features}


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def _geometry(text: str | None):
    import orjson

    return None if text is None else orjson.Fragment(text.encode())


@dataclass(frozen=True)
class LevelIndex:
    """The index of every unit of one level for one period, with what it is made of.

    ``raw`` and ``scores`` map a component to one value per unit (in ``codes``
    order); ``weights`` are the normalised weights of the components used;
    ``left_out`` names components left out, and why.
    """

    codes: list[str]
    raw: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    weights: dict[str, float]
    index: np.ndarray
    received: np.ndarray
    left_out: dict[str, str]


def _level_index(cases, ctx, engine, level, period, settings, weights) -> LevelIndex:
    codes = list(cases.units[level]["code"])
    households = ctx.households(engine, level)
    raw = raw_components(cases, level, period, households, settings.merged_severity(), codes)
    scores = {c: _scores(raw[c], HIGHER_IS_SAFER[c]) for c in raw if c != "received"}
    w = settings.merged_weights(weights)
    left_out = {}
    for name in ("cameras", "response"):
        if w.get(name, 0) <= 0:
            left_out[name] = "weight 0"
            continue
        figures = ctx.component(engine, name, level)
        if not figures:
            left_out[name] = ("no figures (no on-duty driving post)" if name == "response"
                              else "no figures (nothing to measure yet)")
            continue
        raw[name] = np.array([figures.get(c, np.nan) for c in codes], float)
        scores[name] = _scores(raw[name], True)
    used = {c: w[c] for c in scores if w.get(c, 0) > 0 and not np.isnan(scores[c]).all()}
    total = sum(used.values())
    if total <= 0:
        raise InvalidInput("no component with a weight above 0 has figures")
    used = {c: v / total for c, v in used.items()}
    index = sum(used[c] * np.nan_to_num(scores[c], nan=50.0) for c in used)
    if not isinstance(index, np.ndarray):
        index = np.full(len(codes), 100.0)
    return LevelIndex(codes=codes, raw=raw, scores=scores, weights=used, index=index,
                      received=raw["received"], left_out=left_out)


def _city(cases, ctx, engine, period, settings, weights) -> dict:
    out = compute_index(cases, ctx, engine, "community", period, settings, weights)
    hh = np.array([max(f["properties"]["households"], 1) for f in out["features"]], float)
    idx = np.array([f["properties"]["index"] for f in out["features"]])
    changes = [f["properties"]["change"] for f in out["features"]]
    value = float((hh * idx).sum() / hh.sum())
    change = None
    if all(c is not None for c in changes):
        change = float((hh * (idx - np.array(changes))).sum() / hh.sum())
        change = value - change
    props = {"code": "city", "name": "全市", "index": value, "rank": 1, "change": change,
             "level": risk_level(value, change, settings.worsening),
             "received": int(sum(f["properties"]["received"] for f in out["features"])),
             "households": int(hh.sum()), "components": {}}
    return {**out, "level": "city", "features": [
        {"type": "Feature", "id": "city", "properties": props, "geometry": None}]}

"""Query parameters of the hotspot analyses.

Validated into frozen (hashable) dataclasses shared by the API, the CLI and the caches.

Times: ISO 8601; a value without a zone is read in the hotspot timezone
(``ONEMAP_HOTSPOT_TIMEZONE``, default Asia/Shanghai). Windows are half-open,
``[from, to)``; a date-only ``to`` means the end of that day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from geo.errors import InvalidInput
from geo.hotspots.cells import check_k, check_res
from geo.hotspots.fdr import fdr_levels

CATEGORIES = ("dispute", "public_order", "hazard", "livelihood", "city_management", "other")
SOURCES = ("12345", "110", "grid", "petition", "other")
STEPS = ("week", "month")


def parse_time(value: str | datetime | None, tz: str, *, end: bool = False) -> datetime | None:
    """ISO 8601 text → aware datetime (None stays None).

    A date-only value is the start of that day, or with ``end`` the start of the next.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        out = value
    else:
        text = str(value).strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                out = datetime.combine(day + timedelta(days=1 if end else 0), time())
            else:
                out = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"not an ISO 8601 date or time: {text!r}") from None
    return out if out.tzinfo else out.replace(tzinfo=ZoneInfo(tz))


def parse_choices(value: str | list[str] | tuple[str, ...] | None, allowed: tuple[str, ...],
                  name: str) -> tuple[str, ...]:
    """Comma-separated (or list) choices → sorted tuple; unknown values → InvalidInput."""
    if value is None or value == "" or value == []:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [str(v).strip() for v in items if str(v).strip()]
    unknown = sorted(set(items) - set(allowed))
    if unknown:
        raise InvalidInput(f"unknown {name} {', '.join(map(repr, unknown))}; "
                           f"known: {', '.join(allowed)}")
    return tuple(sorted(set(items)))


def parse_bbox(value: str | tuple | list | None) -> tuple[float, float, float, float] | None:
    """``lon_min,lat_min,lon_max,lat_max`` in degrees → tuple, checked."""
    if value is None or value == "":
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise InvalidInput("bbox must be four numbers: lon_min,lat_min,lon_max,lat_max") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise InvalidInput("bbox values must be finite numbers")
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise InvalidInput(f"bbox out of range or empty: {x0},{y0},{x1},{y1} "
                           "(lon −180..180, lat −90..90, min < max)")
    return (x0, y0, x1, y1)


def check_alpha(alpha: float, name: str = "alpha") -> float:
    """``alpha`` if usable as an FDR level, else InvalidInput."""
    try:
        fdr_levels(float(alpha))
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number") from None
    except InvalidInput:
        raise InvalidInput(f"{name} must be in (0, 0.2], got {alpha}") from None
    return float(alpha)


@dataclass(frozen=True)
class Filters:
    """Which incidents count: ``[t0, t1)``, categories, sources (empty = all)."""

    t0: datetime | None = None
    t1: datetime | None = None
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @classmethod
    def build(cls, t0=None, t1=None, category=None, source=None, *, tz: str) -> Filters:
        """Parse and validate raw values."""
        f = cls(parse_time(t0, tz), parse_time(t1, tz, end=True),
                parse_choices(category, CATEGORIES, "category"),
                parse_choices(source, SOURCES, "source"))
        if f.t0 and f.t1 and f.t0 >= f.t1:
            raise InvalidInput(f"from ({f.t0.isoformat()}) must be before to ({f.t1.isoformat()})")
        return f

    def echo(self) -> dict:
        """JSON-ready description."""
        return {"from": self.t0.isoformat() if self.t0 else None,
                "to": self.t1.isoformat() if self.t1 else None,
                "category": list(self.categories) or None,
                "source": list(self.sources) or None}


@dataclass(frozen=True)
class HotspotQuery:
    """Gi* hotspots: resolution, rings, FDR alpha, filters, bbox."""

    res: int = 9
    k: int = 1
    alpha: float = 0.05
    filters: Filters = field(default_factory=Filters)
    bbox: tuple[float, float, float, float] | None = None

    def __post_init__(self):
        check_res(self.res)
        check_k(self.k)
        check_alpha(self.alpha)


@dataclass(frozen=True)
class EmergingQuery:
    """Emerging hot spots over time steps."""

    res: int = 9
    k: int = 1
    step: str = "week"
    filters: Filters = field(default_factory=Filters)
    bbox: tuple[float, float, float, float] | None = None
    time_window: int = 1
    alpha: float = 0.10
    trend_alpha: float = 0.05

    def __post_init__(self):
        check_res(self.res)
        check_k(self.k)
        check_alpha(self.alpha)
        check_alpha(self.trend_alpha, "trend_alpha")
        if self.step not in STEPS:
            raise InvalidInput(f"step must be week or month, got {self.step!r}")
        if not 0 <= self.time_window <= 12:
            raise InvalidInput(f"time_window must be 0..12 steps, got {self.time_window}")


@dataclass(frozen=True)
class BacktestQuery:
    """Train on one window, test on another."""

    res: int = 9
    k: int = 1
    train: Filters = field(default_factory=Filters)
    test: Filters = field(default_factory=Filters)
    top: float = 0.05
    method: str = "gi"
    bbox: tuple[float, float, float, float] | None = None

    def __post_init__(self):
        check_res(self.res)
        check_k(self.k)
        if not 0 < self.top <= 0.5:
            raise InvalidInput(f"top must be a share of the area in (0, 0.5], got {self.top}")
        for name, f in (("train", self.train), ("test", self.test)):
            if f.t0 is None or f.t1 is None:
                raise InvalidInput(f"{name}_from and {name}_to are both required")


@dataclass(frozen=True)
class HeatmapQuery:
    """Kernel density: bandwidth (None = default rule), output resolution, filters."""

    bandwidth_m: float | None = None
    res: int | None = None
    filters: Filters = field(default_factory=Filters)
    bbox: tuple[float, float, float, float] | None = None

    def __post_init__(self):
        if self.res is not None:
            check_res(self.res)
        if self.bandwidth_m is not None and not 10 <= self.bandwidth_m <= 10_000:
            raise InvalidInput(f"bandwidth_m must be 10..10000 m, got {self.bandwidth_m}")


def _number(value, kind, name: str):
    """Text or number → ``kind`` (int/float), InvalidInput when not a number."""
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number, got {value!r}") from None


def hotspot_query(settings, res=None, k=None, alpha=None, from_=None, to=None, category=None,
                  source=None, bbox=None) -> HotspotQuery:
    """A validated ``HotspotQuery`` from raw values; defaults from ``HotspotSettings``."""
    return HotspotQuery(
        _number(res if res is not None else settings.res, int, "res"),
        _number(k if k is not None else settings.k, int, "k"),
        _number(alpha if alpha is not None else settings.alpha, float, "alpha"),
        Filters.build(from_, to, category, source, tz=settings.timezone), parse_bbox(bbox))


def emerging_query(settings, res=None, k=None, step="week", from_=None, to=None,
                   category=None, source=None, bbox=None, time_window=None, alpha=None,
                   trend_alpha=None) -> EmergingQuery:
    """A validated ``EmergingQuery`` from raw values."""
    return EmergingQuery(
        _number(res if res is not None else settings.res, int, "res"),
        _number(k if k is not None else settings.k, int, "k"), step or "week",
        Filters.build(from_, to, category, source, tz=settings.timezone), parse_bbox(bbox),
        _number(time_window if time_window is not None else settings.time_window, int,
                "time_window"),
        _number(alpha if alpha is not None else settings.emerging_alpha, float, "alpha"),
        _number(trend_alpha if trend_alpha is not None else settings.trend_alpha, float,
                "trend_alpha"))


def backtest_query(settings, res=None, k=None, train_from=None, train_to=None,
                   test_from=None, test_to=None, top=0.05, method="gi", category=None,
                   source=None, bbox=None) -> BacktestQuery:
    """A validated ``BacktestQuery`` from raw values."""
    tz = settings.timezone
    return BacktestQuery(
        _number(res if res is not None else settings.res, int, "res"),
        _number(k if k is not None else settings.k, int, "k"),
        Filters.build(train_from, train_to, category, source, tz=tz),
        Filters.build(test_from, test_to, category, source, tz=tz),
        _number(top if top is not None else 0.05, float, "top"), method or "gi",
        parse_bbox(bbox))


def heatmap_query(settings, bandwidth_m=None, res=None, from_=None, to=None, category=None,
                  source=None, bbox=None) -> HeatmapQuery:
    """A validated ``HeatmapQuery`` from raw values."""
    return HeatmapQuery(
        None if bandwidth_m is None else _number(bandwidth_m, float, "bandwidth_m"),
        None if res is None else _number(res, int, "res"),
        Filters.build(from_, to, category, source, tz=settings.timezone), parse_bbox(bbox))

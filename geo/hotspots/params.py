"""Query parameters of the hotspot analyses.

Validated into frozen (hashable) dataclasses shared by the API, the CLI and the caches.

Bbox, times, categories and sources are parsed by the service-wide parsers of
``geo.params``: a value without a zone is local time (``ONEMAP_LOCAL_TIMEZONE``,
default Asia/Shanghai); windows are half-open, ``[from, to)``; a date-only ``to``
means the end of that day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from geo import params
from geo.errors import InvalidInput
from geo.hotspots.cells import check_k, check_res
from geo.hotspots.fdr import fdr_levels
from geo.vocabulary import CATEGORIES, SOURCES

STEPS = ("week", "month")


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
    def build(cls, t0=None, t1=None, category=None, source=None, *, tz: str,
              names: tuple[str, str] = ("from", "to")) -> Filters:
        """Parse and validate raw values."""
        w = params.parse_window(t0, t1, tz=tz, names=names)
        return cls(w.t0, w.t1, params.parse_choices(category, CATEGORIES, "category"),
                   params.parse_choices(source, SOURCES, "source"))

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
        Filters.build(from_, to, category, source, tz=settings.timezone), params.parse_bbox(bbox))


def emerging_query(settings, res=None, k=None, step="week", from_=None, to=None,
                   category=None, source=None, bbox=None, time_window=None, alpha=None,
                   trend_alpha=None) -> EmergingQuery:
    """A validated ``EmergingQuery`` from raw values."""
    return EmergingQuery(
        _number(res if res is not None else settings.res, int, "res"),
        _number(k if k is not None else settings.k, int, "k"), step or "week",
        Filters.build(from_, to, category, source, tz=settings.timezone), params.parse_bbox(bbox),
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
        Filters.build(train_from, train_to, category, source, tz=tz,
                      names=("train_from", "train_to")),
        Filters.build(test_from, test_to, category, source, tz=tz,
                      names=("test_from", "test_to")),
        _number(top if top is not None else 0.05, float, "top"), method or "gi",
        params.parse_bbox(bbox))


def heatmap_query(settings, bandwidth_m=None, res=None, from_=None, to=None, category=None,
                  source=None, bbox=None) -> HeatmapQuery:
    """A validated ``HeatmapQuery`` from raw values."""
    return HeatmapQuery(
        None if bandwidth_m is None else _number(bandwidth_m, float, "bandwidth_m"),
        None if res is None else _number(res, int, "res"),
        Filters.build(from_, to, category, source, tz=settings.timezone), params.parse_bbox(bbox))

"""Tile addresses and tile filters: parsed, validated and normalised for cache keys.

Relative times (``-P30D``, ``-PT6H``, ``now``) are resolved against the clock and
rounded down to a quantum (an hour by default), so consecutive requests for "the
last 30 days" share a cache key and an ETag.

Examples
--------
>>> from datetime import datetime, timezone
>>> now = datetime(2024, 5, 1, 10, 42, tzinfo=timezone.utc)
>>> f = TileFilters.parse({"from": "-P1D", "category": "hazard,dispute"}, now=now)
>>> f.time_from.isoformat(), f.categories
('2024-04-30T10:00:00+00:00', ('dispute', 'hazard'))
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from geo.errors import InvalidInput
from tiles.layers import CATEGORIES, SOURCES

MAX_ZOOM = 24
FILTER_NAMES = ("from", "to", "category", "source", "plan")

_DURATION = re.compile(
    r"^-P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)


@dataclass(frozen=True)
class TileAddress:
    """A validated z/x/y in the WebMercatorQuad tile matrix set."""

    z: int
    x: int
    y: int

    @classmethod
    def parse(cls, z: int, x: int, y: int) -> TileAddress:
        """Check ``z`` in 0..24 and ``x``, ``y`` in 0..2^z-1."""
        if not 0 <= z <= MAX_ZOOM:
            raise InvalidInput(f"zoom z={z} is outside 0..{MAX_ZOOM}")
        n = 1 << z
        if not 0 <= x < n:
            raise InvalidInput(f"tile x={x} is outside 0..{n - 1} at zoom {z}")
        if not 0 <= y < n:
            raise InvalidInput(f"tile y={y} is outside 0..{n - 1} at zoom {z}")
        return cls(z, x, y)


@dataclass(frozen=True)
class TileFilters:
    """Normalised tile filters (absent filters are None or empty)."""

    time_from: datetime | None = None
    time_to: datetime | None = None
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    plan: int | None = None

    @classmethod
    def parse(
        cls,
        params: Mapping[str, str],
        *,
        now: datetime | None = None,
        quantum_s: int = 3600,
        tz: str = "Asia/Shanghai",
    ) -> TileFilters:
        """Read ``from``, ``to``, ``category``, ``source``, ``plan`` from query parameters.

        Other parameters are ignored. Naive times are read in ``tz``; ``to`` is
        exclusive, and a date-only ``to`` includes that day (as in the hotspot API).
        """
        now = now or datetime.now(UTC)
        zone = ZoneInfo(tz)
        t0 = _time(params.get("from"), "from", now, quantum_s, zone)
        t1 = _time(params.get("to"), "to", now, quantum_s, zone)
        if t0 is not None and t1 is not None and t0 >= t1:
            raise InvalidInput(f"from ({t0.isoformat()}) must be before to ({t1.isoformat()})")
        return cls(
            time_from=t0,
            time_to=t1,
            categories=_choices(params.get("category"), "category", CATEGORIES),
            sources=_choices(params.get("source"), "source", SOURCES),
            plan=_plan(params.get("plan")),
        )

    @property
    def present(self) -> tuple[str, ...]:
        """Names of the filters that are set."""
        out = []
        for name, value in (("from", self.time_from), ("to", self.time_to),
                            ("category", self.categories), ("source", self.sources),
                            ("plan", self.plan)):
            if value is not None and value != ():
                out.append(name)
        return tuple(out)

    def check_accepted(self, accepted: set[str], layers: str) -> None:
        """Refuse filters none of the requested layers take."""
        extra = [n for n in self.present if n not in accepted]
        if extra:
            raise InvalidInput(
                f"layer(s) {layers} take no filter {', '.join(extra)}; "
                f"accepted: {', '.join(sorted(accepted)) or 'none'}"
            )

    def key(self) -> str:
        """A canonical text of the filters for cache keys and ETags."""
        parts = [
            self.time_from.isoformat() if self.time_from else "",
            self.time_to.isoformat() if self.time_to else "",
            ",".join(self.categories),
            ",".join(self.sources),
            "" if self.plan is None else str(self.plan),
        ]
        return "|".join(parts)

    def only(self, accepted: tuple[str, ...]) -> TileFilters:
        """These filters restricted to the names a layer accepts."""
        return TileFilters(
            time_from=self.time_from if "from" in accepted else None,
            time_to=self.time_to if "to" in accepted else None,
            categories=self.categories if "category" in accepted else (),
            sources=self.sources if "source" in accepted else (),
            plan=self.plan if "plan" in accepted else None,
        )


def _time(
    raw: str | None, name: str, now: datetime, quantum_s: int, zone: ZoneInfo
) -> datetime | None:
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if text.lower() == "now":
        return _floor(now, quantum_s)
    match = _DURATION.match(text.upper())
    if match and any(match.groupdict().values()):
        g = {k: int(v or 0) for k, v in match.groupdict().items()}
        delta = timedelta(weeks=g["w"], days=g["d"], hours=g["h"], minutes=g["m"], seconds=g["s"])
        return _floor(now - delta, quantum_s)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if name == "to" and len(text) == 10:  # a date-only "to" includes that day
            value += timedelta(days=1)
    except ValueError:
        raise InvalidInput(
            f"{name}={raw!r} is not an ISO 8601 time, a relative window like -P30D, or 'now'"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _floor(t: datetime, quantum_s: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % quantum_s, UTC)


def _choices(raw: str | None, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if raw is None or raw.strip() == "":
        return ()
    values = sorted({v.strip() for v in raw.split(",") if v.strip()})
    bad = [v for v in values if v not in allowed]
    if bad:
        raise InvalidInput(
            f"{name}={','.join(bad)} is not known; allowed: {', '.join(allowed)}"
        )
    return tuple(values)


def _plan(raw: str | None) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"plan={raw!r} is not a plan id (a positive integer)") from None
    if value <= 0:
        raise InvalidInput(f"plan={raw!r} is not a plan id (a positive integer)")
    return value

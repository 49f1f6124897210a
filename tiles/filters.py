"""Tile addresses and tile filters: parsed, validated and normalised for cache keys.

Times, categories, sources and the plan id are read by the service-wide parsers
(``geo.params``). Relative times (``-P30D``, ``-PT6H``, ``now``) are resolved against
the clock and rounded down to a quantum (an hour by default), so consecutive requests for "the
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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from geo.errors import InvalidInput
from geo.params import parse_choices, parse_id, parse_window
from geo.vocabulary import CATEGORIES, SOURCES

MAX_ZOOM = 24
FILTER_NAMES = ("from", "to", "category", "source", "plan")

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
        w = parse_window(params.get("from"), params.get("to"), tz=tz,
                         now=now or datetime.now(UTC), quantum_s=quantum_s)
        return cls(
            time_from=w.t0.astimezone(UTC) if w.t0 else None,
            time_to=w.t1.astimezone(UTC) if w.t1 else None,
            categories=parse_choices(params.get("category"), CATEGORIES, "category"),
            sources=parse_choices(params.get("source"), SOURCES, "source"),
            plan=parse_id(params.get("plan"), "plan"),
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

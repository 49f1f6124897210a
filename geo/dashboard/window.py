"""The filter every figure of the screen shares: a time window, a category, a source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from geo.errors import InvalidInput

CATEGORIES = ("dispute", "public_order", "hazard", "livelihood", "city_management", "other")
SOURCES = ("12345", "110", "grid", "petition", "other")

# One SQL fragment for "incidents in this window and filter" (table alias ``i``).
WHERE = """i.occurred_at >= :t0 AND i.occurred_at < :t1
      AND (CAST(:category AS text) IS NULL OR i.category = :category)
      AND (CAST(:source AS text) IS NULL OR i.source = :source)"""


@dataclass(frozen=True)
class Window:
    """``[t0, t1)`` with optional category and source.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> w = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    >>> w.days, w.params()["category"] is None
    (31.0, True)
    """

    t0: datetime
    t1: datetime
    category: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.t1 <= self.t0:
            raise InvalidInput("the window's 'from' must be before its 'to'")
        if self.category is not None and self.category not in CATEGORIES:
            raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}")
        if self.source is not None and self.source not in SOURCES:
            raise InvalidInput(f"source must be one of {', '.join(SOURCES)}")

    @property
    def days(self) -> float:
        """Length in days."""
        return (self.t1 - self.t0).total_seconds() / 86400

    def shifted(self, t0: datetime, t1: datetime) -> Window:
        """The same filter over another window."""
        return Window(t0, t1, self.category, self.source)

    def params(self) -> dict:
        """Bind parameters of :data:`WHERE`."""
        return {"t0": self.t0, "t1": self.t1, "category": self.category, "source": self.source}

"""The filter every figure of the screen shares: a time window, a category, a source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from geo.errors import InvalidInput
from geo.vocabulary import CATEGORIES, SOURCES

# One SQL fragment for "incidents in this window and filter" (table alias ``i``); an empty
# list of categories or sources means all.
WHERE = """i.occurred_at >= :t0 AND i.occurred_at < :t1
      AND (cardinality(CAST(:categories AS text[])) = 0
           OR i.category = ANY(CAST(:categories AS text[])))
      AND (cardinality(CAST(:sources AS text[])) = 0
           OR i.source = ANY(CAST(:sources AS text[])))"""


@dataclass(frozen=True)
class Window:
    """``[t0, t1)`` with optional categories and sources (none: all).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> w = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    >>> w.days, w.params()["categories"]
    (31.0, [])
    """

    t0: datetime
    t1: datetime
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.t1 <= self.t0:
            raise InvalidInput("the window's 'from' must be before its 'to'")
        for name, given, known in (("category", self.categories, CATEGORIES),
                                   ("source", self.sources, SOURCES)):
            unknown = sorted(set(given) - set(known))
            if unknown:
                raise InvalidInput(f"unknown {name} {unknown[0]!r}; known: {', '.join(known)}")

    @property
    def days(self) -> float:
        """Length in days."""
        return (self.t1 - self.t0).total_seconds() / 86400

    def shifted(self, t0: datetime, t1: datetime) -> Window:
        """The same filter over another window."""
        return Window(t0, t1, self.categories, self.sources)

    def params(self) -> dict:
        """Bind parameters of :data:`WHERE`."""
        return {"t0": self.t0, "t1": self.t1, "categories": list(self.categories),
                "sources": list(self.sources)}

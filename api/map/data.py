"""The few facts the 一张图 page needs from the database itself.

Layers come from the tiles and analysis APIs; this module answers what the page
needs to start (where to look, how far back the data goes) and what its summary
panel and labels show. Every query is parameterised and cheap on the indexes of
the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from geo.errors import InvalidInput
from geo.params import parse_bbox, parse_choices, parse_window
from geo.vocabulary import CATEGORIES, SOURCES

# The demo district near Zibo: where the map opens when the database is empty.
FALLBACK_BOUNDS = (118.00, 36.76, 118.10, 36.84)

_EXTENT_SQL = text(
    """
    SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
    FROM (SELECT ST_Extent(geom) AS e FROM admin_areas WHERE level = 'district') d
    WHERE e IS NOT NULL
    UNION ALL
    SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
    FROM (SELECT ST_Extent(geom) AS e FROM admin_areas) a
    WHERE e IS NOT NULL
    UNION ALL
    SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
    FROM (SELECT ST_Extent(geom) AS e FROM buildings) b
    WHERE e IS NOT NULL
    LIMIT 1
    """
)

_NEWEST_SQL = text("SELECT max(occurred_at) FROM incidents")

# The newest month whose 平安指数 per community is stored (what the tile layer shows).
_INDEX_PERIOD_SQL = text(
    """
    SELECT max(period) FROM safety_index
    WHERE unit_level = 'community' AND period ~ '^[0-9]{4}-[0-9]{2}$'
    """
)

_LABELS_SQL = text(
    """
    SELECT code, name, level,
           ST_X(p) AS lon, ST_Y(p) AS lat
    FROM (SELECT code, name, level, ST_PointOnSurface(geom) AS p FROM admin_areas) a
    ORDER BY CASE level WHEN 'district' THEN 0 WHEN 'street' THEN 1 ELSE 2 END, code
    """
)

_COUNT_SQL = text(
    """
    SELECT count(*)
    FROM incidents
    WHERE occurred_at >= :t0 AND occurred_at < :t1
      AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
      AND (cardinality(CAST(:categories AS text[])) = 0
           OR category = ANY(CAST(:categories AS text[])))
      AND (cardinality(CAST(:sources AS text[])) = 0
           OR source = ANY(CAST(:sources AS text[])))
    """
)


@dataclass(frozen=True)
class ViewFilter:
    """What the summary panel counts: a bbox, a time window, optional categories/sources."""

    bbox: tuple[float, float, float, float]
    t0: datetime
    t1: datetime
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @classmethod
    def parse(cls, bbox: str, t0: str, t1: str, category: str | None, source: str | None,
              *, tz: str) -> ViewFilter:
        """Validate query-string values (``geo.params``); naive times are local in ``tz``."""
        window = parse_window(t0, t1, tz=tz)
        box = parse_bbox(bbox)
        if box is None or window.t0 is None or window.t1 is None:
            raise InvalidInput("bbox, from and to are required")
        return cls(box, window.t0, window.t1,
                   parse_choices(None if category == "all" else category, CATEGORIES,
                                 "category"),
                   parse_choices(None if source == "all" else source, SOURCES, "source"))


def service_bounds(engine: Engine) -> tuple[float, float, float, float]:
    """Extent of the district(s), else of all admin areas, else of buildings, else Zibo."""
    with engine.connect() as conn:
        row = conn.execute(_EXTENT_SQL).first()
    return tuple(float(v) for v in row) if row else FALLBACK_BOUNDS  # type: ignore[return-value]


def newest_incident(engine: Engine) -> datetime | None:
    """Time of the newest incident in the data (None when there is none)."""
    with engine.connect() as conn:
        return conn.execute(_NEWEST_SQL).scalar()


def time_anchor(engine: Engine, now: datetime | None = None) -> datetime:
    """Where the 7/30/90-day presets end: now, or the newest incident when that is older.

    A demo whose incidents stop in the past still shows data under every preset.
    """
    now = now or datetime.now(UTC)
    newest = newest_incident(engine)
    return min(now, newest) if newest is not None else now


def index_period(engine: Engine) -> str | None:
    """The newest stored month of the community 平安指数 (None when none is stored)."""
    with engine.connect() as conn:
        return conn.execute(_INDEX_PERIOD_SQL).scalar()


def admin_labels(engine: Engine) -> list[dict]:
    """One label point (inside the polygon) per admin area, districts first."""
    with engine.connect() as conn:
        rows = conn.execute(_LABELS_SQL).mappings().all()
    return [dict(r) for r in rows]


def incident_count(engine: Engine, view: ViewFilter) -> int:
    """Number of incidents in the view's bbox, window and filters."""
    x0, y0, x1, y1 = view.bbox
    params = dict(t0=view.t0, t1=view.t1, x0=x0, y0=y0, x1=x1, y1=y1,
                  categories=list(view.categories), sources=list(view.sources))
    with engine.connect() as conn:
        return int(conn.execute(_COUNT_SQL, params).scalar_one())

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

# The demo district near Zibo: where the map opens when the database is empty.
FALLBACK_BOUNDS = (118.00, 36.76, 118.10, 36.84)

CATEGORIES = ("dispute", "public_order", "hazard", "livelihood", "city_management", "other")
SOURCES = ("12345", "110", "grid", "petition", "other")

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
      AND (CAST(:category AS text) IS NULL OR category = :category)
      AND (CAST(:source AS text) IS NULL OR source = :source)
    """
)


@dataclass(frozen=True)
class ViewFilter:
    """What the summary panel counts: a bbox, a time window, optional category/source."""

    bbox: tuple[float, float, float, float]
    t0: datetime
    t1: datetime
    category: str | None = None
    source: str | None = None

    @classmethod
    def parse(
        cls, bbox: str, t0: str, t1: str, category: str | None, source: str | None
    ) -> ViewFilter:
        """Validate query-string values; bad values raise ``InvalidInput``."""
        return cls(
            parse_bbox(bbox), parse_time(t0, "from"), parse_time(t1, "to"),
            _one_of(category, CATEGORIES, "category"), _one_of(source, SOURCES, "source"),
        )


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """``lon_min,lat_min,lon_max,lat_max`` in degrees."""
    try:
        x0, y0, x1, y1 = (float(v) for v in value.split(","))
    except ValueError:
        raise InvalidInput(f"bbox must be lon_min,lat_min,lon_max,lat_max, got {value!r}") from None
    if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
        raise InvalidInput(f"bbox {value!r} is not a lon/lat box with min < max")
    return x0, y0, x1, y1


def parse_time(value: str, name: str) -> datetime:
    """An ISO 8601 time; a naive one is taken as UTC."""
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 time, got {value!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _one_of(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if value in (None, "", "all"):
        return None
    if value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


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


def admin_labels(engine: Engine) -> list[dict]:
    """One label point (inside the polygon) per admin area, districts first."""
    with engine.connect() as conn:
        rows = conn.execute(_LABELS_SQL).mappings().all()
    return [dict(r) for r in rows]


def incident_count(engine: Engine, view: ViewFilter) -> int:
    """Number of incidents in the view's bbox, window and filters."""
    x0, y0, x1, y1 = view.bbox
    params = dict(t0=view.t0, t1=view.t1, x0=x0, y0=y0, x1=x1, y1=y1,
                  category=view.category, source=view.source)
    with engine.connect() as conn:
        return int(conn.execute(_COUNT_SQL, params).scalar_one())

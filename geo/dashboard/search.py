"""One search box: grid codes, camera codes, posts, incident numbers and names.

A query is matched as a code prefix (grids, cameras, buildings, posts, admin
areas), an exact or prefix incident number (``external_id``) and a part of a
name (admin areas, grids, places, roads, cameras, posts). Exact code matches
come first. Each hit has a point to fly to and a box to fit.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from geo.errors import InvalidInput

MAX_QUERY = 64

# kind, table, SQL of (id, code, name, geom) rows for one kind; :q is the text, :p its prefix
# pattern and :s its substring pattern.
_KINDS: tuple[tuple[str, str, str], ...] = (
    ("grid", "grids", """
        SELECT g.id, g.code, g.name, g.geom FROM grids g
        JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'active'
        WHERE g.code ILIKE :p OR g.name ILIKE :s"""),
    ("camera", "cameras", """
        SELECT id, code, name, geom FROM cameras WHERE code ILIKE :p OR name ILIKE :s"""),
    ("incident", "incidents", """
        SELECT id, external_id AS code, source || ' ' || category AS name, geom FROM incidents
        WHERE external_id = :q OR external_id ILIKE :p"""),
    ("post", "posts", """
        SELECT id, code, name, geom FROM posts WHERE code ILIKE :p OR name ILIKE :s"""),
    ("admin_area", "admin_areas", """
        SELECT id, code, name, geom FROM admin_areas WHERE code ILIKE :p OR name ILIKE :s"""),
    ("place", "places", "SELECT id, NULL AS code, name, geom FROM places WHERE name ILIKE :s"),
    ("road", "roads", "SELECT id, NULL AS code, name, geom FROM roads WHERE name ILIKE :s"),
    ("building", "buildings", "SELECT id, code, NULL AS name, geom FROM buildings "
                              "WHERE code ILIKE :p"),
)
_WRAP = """
    SELECT '{kind}' AS kind, h.id, h.code, h.name,
           ST_X(ST_PointOnSurface(h.geom)) AS lon, ST_Y(ST_PointOnSurface(h.geom)) AS lat,
           ST_XMin(h.geom) AS x0, ST_YMin(h.geom) AS y0, ST_XMax(h.geom) AS x1,
           ST_YMax(h.geom) AS y1, (h.code IS NOT NULL AND lower(h.code) = lower(:q)) AS exact
    FROM ({sql} LIMIT :limit) h
"""


def _escape(q: str) -> str:
    return q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(engine: Engine, query: str, limit: int = 12) -> list[dict]:
    r"""Hits for ``query``, exact code matches first, then by kind.

    Examples
    --------
    >>> print(_escape("50%_a"))
    50\%\_a
    """
    q = (query or "").strip()
    if not q:
        raise InvalidInput("search needs a query of at least one character")
    if len(q) > MAX_QUERY or "\x00" in q:
        raise InvalidInput(f"a search query is at most {MAX_QUERY} characters of text")
    with engine.connect() as conn:
        tables = set(conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars())
        parts = [_WRAP.format(kind=kind, sql=sql) for kind, table, sql in _KINDS
                 if table in tables]
        sql = text(" UNION ALL ".join(f"({p})" for p in parts) + " LIMIT 400")
        rows = conn.execute(sql, {"q": q, "p": _escape(q) + "%", "s": "%" + _escape(q) + "%",
                                  "limit": limit}).mappings().all()
    order = [k for k, _, _ in _KINDS]
    hits = sorted(rows, key=lambda r: (not r["exact"], order.index(r["kind"]), r["code"] or "",
                                       r["name"] or ""))
    return [{"kind": r["kind"], "id": r["id"], "code": r["code"], "name": r["name"],
             "lon": round(r["lon"], 7), "lat": round(r["lat"], 7),
             "bbox": [round(r[k], 7) for k in ("x0", "y0", "x1", "y1")]}
            for r in hits[:limit]]

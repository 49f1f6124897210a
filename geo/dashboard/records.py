"""One record as the screen shows it after a search.

The row's fields without geometry, and for an incident its case history when the
case-flow tables exist.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from geo.errors import InvalidInput, NotFound

TABLES = {"grid": "grids", "camera": "cameras", "incident": "incidents", "post": "posts",
          "admin_area": "admin_areas", "place": "places", "road": "roads",
          "building": "buildings"}
_HIDDEN = ("geom", "geom_3857", "mvt_snap_zooms", "h3")
_HISTORY_SQL = text(
    """
    SELECT table_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND column_name = 'incident_id'
      AND table_name LIKE '%history%' ORDER BY table_name LIMIT 1
    """
)


def record(engine: Engine, kind: str, rid: int) -> dict:
    """``{kind, id, fields, history?}`` of one row."""
    table = TABLES.get(kind)
    if table is None:
        raise InvalidInput(f"kind must be one of {', '.join(TABLES)}, got {kind!r}")
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
            raise NotFound(f"there is no {kind} layer in this database")
        row = conn.execute(text(f'SELECT to_jsonb(t) AS j FROM "{table}" t WHERE t.id = :id'),
                           {"id": rid}).scalar()
        if row is None:
            raise NotFound(f"{kind} {rid} does not exist")
        fields = {k: v for k, v in row.items() if k not in _HIDDEN}
        out = {"kind": kind, "id": rid, "fields": fields}
        if kind == "incident":
            hist = conn.execute(_HISTORY_SQL).scalar()
            if hist:
                out["history"] = [r for (r,) in conn.execute(text(
                    f'SELECT to_jsonb(h) - \'incident_id\' FROM "{hist}" h '
                    "WHERE h.incident_id = :id ORDER BY 1"), {"id": rid})]
            if fields.get("grid_id") is not None:
                out["grid"] = conn.execute(text("SELECT code FROM grids WHERE id = :g"),
                                           {"g": fields["grid_id"]}).scalar()
    return out

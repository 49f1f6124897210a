"""Incidents keep their exact H3 cell at every offered resolution (6–12).

Counts per cell used the parent of the stored res-12 cell
(``onemap_h3_parent``), but H3 is not exactly hierarchical: a few percent of
points lie in a neighbour of that parent. The columns ``h3_6`` … ``h3_12`` hold
``h3.latlng_to_cell(lat, lon, res)`` (see :mod:`geo.h3cells`); existing rows are
backfilled here from their geometry, in batches, then the columns become
NOT NULL. Rewriting a cell counts as a rewrite for the hotspot snapshot.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-02
"""
import numpy as np
from alembic import op
from sqlalchemy import text

from geo.h3cells import COLUMNS, exact_cells

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None

_BATCH = 200_000
_REWRITE_TRIGGER = """
    CREATE TRIGGER incidents_rewrite
        AFTER UPDATE OF h3, {cols}, occurred_at, category, source OR DELETE OR TRUNCATE
        ON incidents
        FOR EACH STATEMENT EXECUTE FUNCTION onemap_incident_rewrite()
"""


def _backfill(conn) -> None:
    last = 0
    sets = ", ".join(f"{c} = u.{c}" for c in COLUMNS)
    arrays = ", ".join(f"CAST(:{c} AS bigint[])" for c in COLUMNS)
    while True:
        rows = conn.execute(text(
            "SELECT id, ST_X(geom), ST_Y(geom) FROM incidents WHERE id > :last "
            "ORDER BY id LIMIT :n"), {"last": last, "n": _BATCH}).all()
        if not rows:
            return
        arr = np.array(rows, dtype=np.float64)
        ids = [r[0] for r in rows]
        cells = exact_cells(arr[:, 1], arr[:, 2])
        conn.execute(text(
            f"UPDATE incidents i SET {sets} "
            f"FROM unnest(CAST(:ids AS bigint[]), {arrays}) AS u(id, {', '.join(COLUMNS)}) "
            "WHERE i.id = u.id"),
            {"ids": ids, **{c: cells[c].tolist() for c in COLUMNS}})
        last = ids[-1]


def upgrade() -> None:
    for c in COLUMNS:
        op.execute(f"ALTER TABLE incidents ADD COLUMN {c} bigint")
    _backfill(op.get_bind())
    for c in COLUMNS:
        op.execute(f"ALTER TABLE incidents ALTER COLUMN {c} SET NOT NULL")
    op.execute("DROP TRIGGER IF EXISTS incidents_rewrite ON incidents")
    op.execute(_REWRITE_TRIGGER.format(cols=", ".join(COLUMNS)))


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS incidents_rewrite ON incidents")
    op.execute(_REWRITE_TRIGGER.replace("{cols}, ", ""))
    for c in COLUMNS:
        op.execute(f"ALTER TABLE incidents DROP COLUMN {c}")

"""Case flow on incidents (DESIGN §4, §10): department, times, satisfaction, reopened,
routed_from; and ``incident_history``, one row per changed field of a case.

History is written by a row trigger that fires only when a tracked column really
changes (``WHEN OLD … IS DISTINCT FROM NEW …``), so a plain insert, a grid
reassignment or an unchanged ``--on-conflict update`` row costs nothing. The
actor is the transaction's ``onemap.actor`` setting (``set_config(…, true)``),
else the database user. The first state of a case is its inserted row; every
later change keeps the old and the new value, so every earlier state can be
rebuilt.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02
"""
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

TRACKED = ("category", "subcategory", "occurred_at", "status", "resolved_at", "department",
           "dispatched_at", "due_at", "closed_at", "satisfaction", "reopened", "routed_from")


def upgrade() -> None:
    op.execute("""
        ALTER TABLE incidents
            ADD COLUMN department    text,
            ADD COLUMN dispatched_at timestamptz,
            ADD COLUMN due_at        timestamptz,
            ADD COLUMN closed_at     timestamptz,
            ADD COLUMN satisfaction  text
                CONSTRAINT incidents_satisfaction_known
                CHECK (satisfaction IN ('satisfied', 'basic', 'unsatisfied')),
            ADD COLUMN reopened      int NOT NULL DEFAULT 0
                CONSTRAINT incidents_reopened_not_negative CHECK (reopened >= 0),
            ADD COLUMN routed_from   text
                CONSTRAINT incidents_routed_from_known
                CHECK (routed_from IN ('12345', '110', 'grid', 'petition', 'other'))
    """)
    op.execute("""
        CREATE TABLE incident_history (
            id          bigserial PRIMARY KEY,
            incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
            changed_at  timestamptz NOT NULL DEFAULT now(),
            actor       text NOT NULL,
            field       text NOT NULL,
            old_value   jsonb,
            new_value   jsonb
        )
    """)
    op.execute("CREATE INDEX incident_history_incident ON incident_history (incident_id, id)")
    values = ",\n".join(f"('{c}', to_jsonb(OLD.{c}), to_jsonb(NEW.{c}))" for c in TRACKED)
    op.execute(f"""
        CREATE FUNCTION onemap_incident_history() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO incident_history (incident_id, actor, field, old_value, new_value)
            SELECT NEW.id,
                   coalesce(nullif(current_setting('onemap.actor', true), ''), session_user),
                   v.f, v.o, v.n
            FROM (VALUES {values}) AS v(f, o, n)
            WHERE v.o IS DISTINCT FROM v.n;
            RETURN NULL;
        END $$
    """)
    cols = ", ".join(TRACKED)
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in TRACKED)
    op.execute(f"""
        CREATE TRIGGER incidents_history AFTER UPDATE OF {cols} ON incidents
            FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION onemap_incident_history()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS incidents_history ON incidents")
    op.execute("DROP FUNCTION IF EXISTS onemap_incident_history()")
    op.execute("DROP TABLE IF EXISTS incident_history")
    op.execute("""
        ALTER TABLE incidents DROP COLUMN IF EXISTS department,
            DROP COLUMN IF EXISTS dispatched_at, DROP COLUMN IF EXISTS due_at,
            DROP COLUMN IF EXISTS closed_at, DROP COLUMN IF EXISTS satisfaction,
            DROP COLUMN IF EXISTS reopened, DROP COLUMN IF EXISTS routed_from
    """)

"""Case flow on incidents (ARCHITECTURE.md §4, §10): department, times, satisfaction, reopened,
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
down_revision = "0007"
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

    # Time limits per category (kept equal to ONEMAP_CASE_LIMITS by the service) and the
    # open cases lit red/yellow/green now, for the OGC collection and tile layer.
    op.execute("CREATE TABLE case_limits (category text PRIMARY KEY, "
               "hours double precision NOT NULL CHECK (hours >= 0))")
    op.execute("INSERT INTO case_limits VALUES ('hazard', 24), ('public_order', 24), "
               "('dispute', 72), ('livelihood', 120), ('city_management', 120), ('other', 120)")
    op.execute("""
        CREATE VIEW case_warnings AS
        SELECT q.id, q.source, q.external_id, q.category, q.subcategory, q.status,
               q.department, q.occurred_at, q.limit_at, q.grid_id,
               CASE WHEN now() > q.limit_at THEN 'red'
                    WHEN now() - q.occurred_at >= 0.8 * (q.limit_at - q.occurred_at)
                    THEN 'yellow' ELSE 'green' END AS light,
               q.geom, q.geom_3857
        FROM (SELECT i.*, coalesce(i.due_at, i.occurred_at
                                   + coalesce(l.hours, 120) * interval '1 hour') AS limit_at
              FROM incidents AS i LEFT JOIN case_limits AS l ON l.category = i.category
              WHERE i.status IN ('received', 'dispatched')) AS q
    """)
    op.execute("CREATE INDEX incidents_open ON incidents (id) "
               "WHERE status IN ('received', 'dispatched')")

    # The last computed 平安指数 of each unit and period (OGC collection and tile layer).
    op.execute("""
        CREATE TABLE safety_index (
            id          serial PRIMARY KEY,
            unit_level  text NOT NULL,
            period      text NOT NULL,
            code        text NOT NULL,
            name        text,
            index       double precision NOT NULL,
            rank        int NOT NULL,
            change      double precision,
            risk        text NOT NULL
                CONSTRAINT safety_index_risk_known
                CHECK (risk IN ('none', 'blue', 'yellow', 'orange', 'red')),
            components  jsonb NOT NULL,
            computed_at timestamptz NOT NULL DEFAULT now(),
            geom        geometry(MultiPolygon, 4326) NOT NULL,
            geom_3857   geometry(MultiPolygon, 3857)
                GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED,
            CONSTRAINT safety_index_unit_period UNIQUE (unit_level, period, code)
        )
    """)
    op.execute("CREATE INDEX safety_index_geom ON safety_index USING gist (geom)")
    op.execute("CREATE INDEX safety_index_geom_3857 ON safety_index USING gist (geom_3857)")
    op.execute("INSERT INTO layer_versions (layer) VALUES ('safety_index') "
               "ON CONFLICT DO NOTHING")
    op.execute(
        "CREATE TRIGGER safety_index_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        "ON safety_index FOR EACH STATEMENT EXECUTE FUNCTION onemap_bump_layer('safety_index')")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS case_warnings")
    op.execute("DROP TABLE IF EXISTS case_limits")
    op.execute("DROP INDEX IF EXISTS incidents_open")
    op.execute("DROP TABLE IF EXISTS safety_index")
    op.execute("DELETE FROM layer_versions WHERE layer = 'safety_index'")
    op.execute("DROP TRIGGER IF EXISTS incidents_history ON incidents")
    op.execute("DROP FUNCTION IF EXISTS onemap_incident_history()")
    op.execute("DROP TABLE IF EXISTS incident_history")
    op.execute("""
        ALTER TABLE incidents DROP COLUMN IF EXISTS department,
            DROP COLUMN IF EXISTS dispatched_at, DROP COLUMN IF EXISTS due_at,
            DROP COLUMN IF EXISTS closed_at, DROP COLUMN IF EXISTS satisfaction,
            DROP COLUMN IF EXISTS reopened, DROP COLUMN IF EXISTS routed_from
    """)

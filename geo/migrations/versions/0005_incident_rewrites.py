"""Count the statements that rewrite or remove incidents (not those that only add rows),
so the hotspot snapshot can load just the new rows after an ingest.

``incident_rewrites.n`` moves on every UPDATE of an analysed column (h3,
occurred_at, category, source), every DELETE and every TRUNCATE of
``incidents``; plain INSERTs and grid assignments leave it alone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE incident_rewrites (
            one boolean PRIMARY KEY DEFAULT true CONSTRAINT incident_rewrites_one_row CHECK (one),
            n   bigint NOT NULL DEFAULT 0
        )
    """)
    op.execute("INSERT INTO incident_rewrites DEFAULT VALUES")
    op.execute("""
        CREATE FUNCTION onemap_incident_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE incident_rewrites SET n = n + 1;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER incidents_rewrite
            AFTER UPDATE OF h3, occurred_at, category, source OR DELETE OR TRUNCATE ON incidents
            FOR EACH STATEMENT EXECUTE FUNCTION onemap_incident_rewrite()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS incidents_rewrite ON incidents")
    op.execute("DROP FUNCTION IF EXISTS onemap_incident_rewrite()")
    op.execute("DROP TABLE IF EXISTS incident_rewrites")

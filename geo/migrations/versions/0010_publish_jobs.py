"""Publishing in seconds: grids keep their id across plans, and long work runs as a job.

- The foreign keys onto ``grids.id`` (``incidents.grid_id``, ``grid_members.grid_id``)
  become ``DEFERRABLE INITIALLY IMMEDIATE``: publishing swaps the ids of a kept grid
  (same community, same geometry) and its copy in the published draft, so the grid in
  force keeps the id incidents already point at (:func:`geo.gridplan.plans.publish`).
  The swap goes through a free id, which the checks may only see at commit.
- ``jobs``: one row per background job (a publish), with its state, progress 0–1,
  start and end, error and result, read by any API worker (:mod:`geo.jobs`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_FKEYS = (("incidents", "incidents_grid_id_fkey"), ("grid_members", "grid_members_grid_id_fkey"))


def upgrade() -> None:
    for table, name in _FKEYS:
        op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} DEFERRABLE INITIALLY IMMEDIATE")
    op.execute("""
        CREATE TABLE jobs (
            id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            kind        text NOT NULL,
            subject     text,
            actor       text NOT NULL,
            state       text NOT NULL DEFAULT 'queued'
                CONSTRAINT jobs_state_known
                CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
            progress    double precision NOT NULL DEFAULT 0
                CONSTRAINT jobs_progress_0_1 CHECK (progress BETWEEN 0 AND 1),
            step        text,
            created_at  timestamptz NOT NULL DEFAULT now(),
            started_at  timestamptz,
            finished_at timestamptz,
            error       jsonb,
            result      jsonb
        )
    """)
    op.execute(
        "CREATE INDEX jobs_open ON jobs (kind, subject) WHERE state IN ('queued', 'running')"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS jobs")
    for table, name in _FKEYS:
        op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} NOT DEFERRABLE")

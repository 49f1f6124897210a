"""Cached households and population per grid, kept by the grid-planning code.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE grids
            ADD COLUMN households int NOT NULL DEFAULT 0,
            ADD COLUMN population int NOT NULL DEFAULT 0,
            ADD COLUMN buildings  int NOT NULL DEFAULT 0
    """)
    op.execute("CREATE INDEX grids_plan_community ON grids (plan_id, community_code)")
    op.execute("CREATE INDEX grid_members_plan_grid ON grid_members (plan_id, grid_id)")
    op.execute("CREATE INDEX plan_edits_plan ON plan_edits (plan_id, version)")
    # Fill the cache for grids that already exist.
    op.execute("""
        UPDATE grids g
           SET households = s.households, population = s.population, buildings = s.buildings
          FROM (SELECT m.grid_id,
                       sum(b.households)::int AS households,
                       coalesce(sum(b.population), 0)::int AS population,
                       count(*)::int AS buildings
                  FROM grid_members m JOIN buildings b ON b.id = m.building_id
                 GROUP BY m.grid_id) s
         WHERE s.grid_id = g.id
    """)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS plan_edits_plan")
    op.execute("DROP INDEX IF EXISTS grid_members_plan_grid")
    op.execute("DROP INDEX IF EXISTS grids_plan_community")
    op.execute(
        "ALTER TABLE grids DROP COLUMN households, DROP COLUMN population, DROP COLUMN buildings"
    )

"""Publishing or archiving a grid plan changes what the ``grids`` tiles show:
bump the ``grids`` layer version (and notify) on every grid_plans statement.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TRIGGER grid_plans_bump_version
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON grid_plans
            FOR EACH STATEMENT EXECUTE FUNCTION onemap_bump_layer('grids')
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS grid_plans_bump_version ON grid_plans")

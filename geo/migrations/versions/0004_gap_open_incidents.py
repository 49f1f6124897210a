"""Coverage gaps also count the incidents that happened out in the open (more than
``ONEMAP_COVERAGE_ATTACH_M`` from any building); the priority ranks by those.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE coverage_gaps ADD COLUMN open_incidents int NOT NULL DEFAULT 0")


def downgrade() -> None:
    op.execute("ALTER TABLE coverage_gaps DROP COLUMN IF EXISTS open_incidents")

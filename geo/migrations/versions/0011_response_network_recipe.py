"""The stored road network remembers the settings it was priced with.

``response_network.recipe`` holds the speeds, the walking speed and the join gap
(``ResponseSettings.network_recipe``) the edges in ``response_edges`` were built with.
A network built before this column existed has none and is rebuilt once; after that,
changing ``ONEMAP_RESPONSE_*_KMH`` or ``ONEMAP_RESPONSE_JOIN_GAP_M`` (or the metric CRS)
rebuilds it on the next reach, as a change of the roads always did.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE response_network ADD COLUMN recipe text")


def downgrade() -> None:
    op.execute("ALTER TABLE response_network DROP COLUMN recipe")

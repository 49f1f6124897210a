"""Initial schema: layers, plans, views, gaps, keys, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
from importlib.resources import files

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MAPPED = {
    "admin_areas": "admin_areas",
    "grids": "grids",
    "buildings": "buildings",
    "cameras": "cameras",
    "camera_views": "camera_views",
    "incidents": "incidents",
    "roads": "roads",
    "waterways": "waterways",
    "places": "places",
    "coverage_gaps": "coverage_gaps",
}


def upgrade() -> None:
    op.execute((files("geo.migrations") / "sql" / "0001_schema.sql").read_text())
    for table, layer in MAPPED.items():
        op.execute(f"CREATE INDEX {table}_geom ON {table} USING gist (geom)")
        op.execute(f"CREATE INDEX {table}_geom_3857 ON {table} USING gist (geom_3857)")
        op.execute(
            f"CREATE TRIGGER {table}_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION onemap_bump_layer('{layer}')"
        )
        op.execute(f"INSERT INTO layer_versions (layer) VALUES ('{layer}')")
    # grid membership changes what the grid layer shows (households per grid).
    op.execute(
        "CREATE TRIGGER grid_members_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        "ON grid_members FOR EACH STATEMENT EXECUTE FUNCTION onemap_bump_layer('grids')"
    )


def downgrade() -> None:
    for table in [
        "plan_edits", "audit_log", "api_keys", "coverage_gaps", "places", "waterways", "roads",
        "incidents", "camera_views", "cameras", "grid_members", "buildings", "grids",
        "grid_plans", "admin_areas", "layer_versions",
    ]:
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP FUNCTION IF EXISTS onemap_bump_layer()")
    op.execute("DROP FUNCTION IF EXISTS onemap_h3_parent(bigint, int)")

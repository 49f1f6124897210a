"""Tile-ready building footprints: the zooms at which snapping keeps a footprint valid.

``ST_AsMVTGeom`` sends every polygon through a clip-and-repair pass (wagyu),
most of the cost of a building tile. A footprint that lies inside the buffered
tile needs no clipping, and if its outline stays a valid polygon once snapped to
the zoom's integer grid it needs no repair either. Whether it does depends only
on the footprint and the zoom, not on the tile: the tile grid of a zoom is one
global integer grid shifted by whole multiples of the extent. So it is worked
out once, when the footprint is written:

- ``onemap_mvt_snap(g, z)``: ``g`` (EPSG:3857) in the global integer grid of
  zoom ``z`` (4096 units per tile), y down, snapped, exterior rings wound as MVT
  wants. A tile's coordinates are this shifted by ``(-x·4096, -y·4096)``.
- ``buildings.mvt_snap_zooms``: bit ``z`` (12 ≤ z ≤ 20) set when that snapped
  footprint is a non-empty, valid polygon of positive area.

The tile query takes the shortcut only for such footprints lying inside the
buffered tile and falls back to ``ST_AsMVTGeom`` for everything else.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# 2 × the Web Mercator half-width; the same float8 arithmetic as tiles/sql.py.
_SNAP = """
    CREATE FUNCTION onemap_mvt_snap(g geometry, z integer) RETURNS geometry
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT ST_ForcePolygonCCW(ST_SnapToGrid(ST_Affine(
            g, k.s, 0, 0, -k.s, 20037508.342789244::float8 * k.s,
            20037508.342789244::float8 * k.s), 1))
        FROM (SELECT 4096 * (2::float8 ^ z) / (2 * 20037508.342789244::float8) AS s) AS k
    $$
"""

_ZOOMS = """
    CREATE FUNCTION onemap_mvt_snap_zooms(g geometry) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path FROM CURRENT AS $$
    DECLARE
        zooms integer := 0;
        snapped geometry;
    BEGIN
        IF GeometryType(g) NOT IN ('POLYGON', 'MULTIPOLYGON') THEN
            RETURN 0;
        END IF;
        FOR z IN 12..20 LOOP
            snapped := onemap_mvt_snap(g, z);
            IF NOT ST_IsEmpty(snapped) AND ST_Area(snapped) > 0 AND ST_IsValid(snapped) THEN
                zooms := zooms | (1 << z);
            END IF;
        END LOOP;
        RETURN zooms;
    END $$
"""


def upgrade() -> None:
    op.execute(_SNAP)
    op.execute(_ZOOMS)
    op.execute("""
        ALTER TABLE buildings ADD COLUMN mvt_snap_zooms integer
            GENERATED ALWAYS AS (onemap_mvt_snap_zooms(ST_Transform(geom, 3857))) STORED
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE buildings DROP COLUMN IF EXISTS mvt_snap_zooms")
    op.execute("DROP FUNCTION IF EXISTS onemap_mvt_snap_zooms(geometry)")
    op.execute("DROP FUNCTION IF EXISTS onemap_mvt_snap(geometry, integer)")

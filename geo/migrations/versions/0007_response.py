"""Response circles: pgRouting, road direction and speed, posts, the routable network.

- ``CREATE EXTENSION IF NOT EXISTS pgrouting`` (idempotent: a cluster bootstrap may
  have created it already).
- ``roads.oneway`` (no/yes/reverse; yes = the drawn direction) and ``roads.speed_kmh``
  (optional; the class default when null).
- ``posts``: police stations and posts, patrol points, fire, medical, grid stations,
  service centres, with their travel ``mode``, ``turnout_s`` and ``status``.
- ``response_edges``: the road network noded at every crossing, in pgRouting's shape
  (``id, source, target, cost, reverse_cost`` per mode; a negative cost means "not
  this way"), rebuilt from ``roads`` when the roads layer version changes
  (``response_network`` records which version it was built from).
- ``response_areas``: the stored areas (every mode's default breaks, dissolved and per
  post) that the OGC collection and the tile layer of the same name serve.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_POSTS = """
CREATE TABLE posts (
    id        serial PRIMARY KEY,
    code      text UNIQUE,
    name      text,
    kind      text NOT NULL DEFAULT 'police_post'
        CONSTRAINT posts_kind_known CHECK (kind IN ('police_station', 'police_post', 'patrol',
            'fire', 'medical', 'grid_station', 'service_centre')),
    mode      text NOT NULL DEFAULT 'drive'
        CONSTRAINT posts_mode_known CHECK (mode IN ('drive', 'walk')),
    turnout_s double precision NOT NULL DEFAULT 0
        CONSTRAINT posts_turnout_range CHECK (turnout_s >= 0 AND turnout_s <= 3600),
    status    text NOT NULL DEFAULT 'on_duty'
        CONSTRAINT posts_status_known CHECK (status IN ('on_duty', 'off_duty')),
    geom      geometry(Point, 4326) NOT NULL,
    geom_3857 geometry(Point, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED
)
"""

_EDGES = """
CREATE TABLE response_edges (
    id                 bigint PRIMARY KEY,
    road_id            int,
    source             bigint NOT NULL,
    target             bigint NOT NULL,
    length_m           double precision NOT NULL,
    drive_cost         double precision NOT NULL,
    drive_reverse_cost double precision NOT NULL,
    walk_cost          double precision NOT NULL,
    geom               geometry(LineString, 4326) NOT NULL
)
"""

_AREAS = """
CREATE TABLE response_areas (
    id          serial PRIMARY KEY,
    mode        text NOT NULL,
    minutes     double precision NOT NULL,
    overlap     text NOT NULL,
    post_code   text,
    post_name   text,
    households  int NOT NULL DEFAULT 0,
    population  int NOT NULL DEFAULT 0,
    area_m2     double precision NOT NULL DEFAULT 0,
    computed_at timestamptz NOT NULL DEFAULT now(),
    geom        geometry(MultiPolygon, 4326) NOT NULL,
    geom_3857   geometry(MultiPolygon, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED
)
"""

_NETWORK = """
CREATE TABLE response_network (
    id            int PRIMARY KEY DEFAULT 1 CONSTRAINT response_network_one CHECK (id = 1),
    roads_version bigint NOT NULL,
    metric_epsg   int NOT NULL,
    built_at      timestamptz NOT NULL DEFAULT now()
)
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")
    op.execute("ALTER TABLE roads ADD COLUMN oneway text NOT NULL DEFAULT 'no' "
               "CONSTRAINT roads_oneway_known CHECK (oneway IN ('no', 'yes', 'reverse'))")
    op.execute("ALTER TABLE roads ADD COLUMN speed_kmh double precision "
               "CONSTRAINT roads_speed_range CHECK (speed_kmh > 0 AND speed_kmh <= 200)")
    op.execute(_POSTS)
    op.execute("CREATE INDEX posts_geom ON posts USING gist (geom)")
    op.execute("CREATE INDEX posts_geom_3857 ON posts USING gist (geom_3857)")
    op.execute("CREATE TRIGGER posts_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
               "ON posts FOR EACH STATEMENT EXECUTE FUNCTION onemap_bump_layer('posts')")
    op.execute("INSERT INTO layer_versions (layer) VALUES ('posts') ON CONFLICT DO NOTHING")
    op.execute(_EDGES)
    op.execute("CREATE INDEX response_edges_source ON response_edges (source)")
    op.execute("CREATE INDEX response_edges_target ON response_edges (target)")
    op.execute("CREATE INDEX response_edges_geom ON response_edges USING gist (geom)")
    op.execute(_NETWORK)
    op.execute(_AREAS)
    op.execute("CREATE INDEX response_areas_geom ON response_areas USING gist (geom)")
    op.execute("CREATE INDEX response_areas_geom_3857 ON response_areas USING gist (geom_3857)")
    op.execute("CREATE TRIGGER response_areas_bump_version AFTER INSERT OR UPDATE OR DELETE OR "
               "TRUNCATE ON response_areas FOR EACH STATEMENT "
               "EXECUTE FUNCTION onemap_bump_layer('response_areas')")
    op.execute("INSERT INTO layer_versions (layer) VALUES ('response_areas') "
               "ON CONFLICT DO NOTHING")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS response_areas")
    op.execute("DELETE FROM layer_versions WHERE layer = 'response_areas'")
    op.execute("DROP TABLE IF EXISTS response_network")
    op.execute("DROP TABLE IF EXISTS response_edges")
    op.execute("DROP TABLE IF EXISTS posts CASCADE")
    op.execute("DELETE FROM layer_versions WHERE layer = 'posts'")
    op.execute("ALTER TABLE roads DROP COLUMN IF EXISTS speed_kmh")
    op.execute("ALTER TABLE roads DROP COLUMN IF EXISTS oneway")

-- onemap schema, revision 0001. Geometries in EPSG:4326; every mapped layer also
-- keeps a generated Web-Mercator copy (geom_3857) so tiles never transform per request.

CREATE EXTENSION IF NOT EXISTS postgis;

-- H3 cells are stored as bigint (the index fits in 63 bits). The parent at a
-- coarser resolution is pure bit arithmetic: set the resolution field, fill the
-- digits below it with 7.
CREATE FUNCTION onemap_h3_parent(cell bigint, res int) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ((cell & ~(15::bigint << 52)) | (res::bigint << 52))
           | ((1::bigint << ((15 - res) * 3)) - 1)
$$;

-- Data versions per layer, bumped by statement triggers; tiles derive ETags from them.
CREATE TABLE layer_versions (
    layer      text PRIMARY KEY,
    version    bigint NOT NULL DEFAULT 1,
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION onemap_bump_layer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO layer_versions (layer, version, changed_at) VALUES (TG_ARGV[0], 2, now())
    ON CONFLICT (layer) DO UPDATE
        SET version = layer_versions.version + 1, changed_at = now();
    PERFORM pg_notify('onemap_layers', TG_ARGV[0]);
    RETURN NULL;
END $$;

CREATE TABLE admin_areas (
    id          serial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    level       text NOT NULL
        CONSTRAINT admin_areas_level_known CHECK (level IN ('district', 'street', 'community')),
    parent_code text,
    geom        geometry(MultiPolygon, 4326) NOT NULL,
    geom_3857   geometry(MultiPolygon, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED
);

CREATE TABLE grid_plans (
    id           serial PRIMARY KEY,
    name         text NOT NULL,
    status       text NOT NULL DEFAULT 'draft'
        CONSTRAINT grid_plans_status_known CHECK (status IN ('draft', 'active', 'archived')),
    parent_id    int REFERENCES grid_plans (id),
    author       text NOT NULL DEFAULT 'system',
    note         text,
    version      int NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE UNIQUE INDEX grid_plans_one_active ON grid_plans ((true)) WHERE status = 'active';

CREATE TABLE grids (
    id             serial PRIMARY KEY,
    plan_id        int NOT NULL REFERENCES grid_plans (id) ON DELETE CASCADE,
    code           text NOT NULL,
    name           text,
    community_code text,
    worker         text,
    locked         boolean NOT NULL DEFAULT false,
    geom           geometry(MultiPolygon, 4326) NOT NULL,
    geom_3857      geometry(MultiPolygon, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED,
    CONSTRAINT grids_code_unique_in_plan UNIQUE (plan_id, code)
);

CREATE TABLE buildings (
    id             serial PRIMARY KEY,
    code           text UNIQUE,
    households     int NOT NULL DEFAULT 0
        CONSTRAINT buildings_households_not_negative CHECK (households >= 0),
    population     int CONSTRAINT buildings_population_not_negative CHECK (population >= 0),
    floors         int CONSTRAINT buildings_floors_not_negative CHECK (floors >= 0),
    kind           text,
    community_code text,
    geom           geometry(Geometry, 4326) NOT NULL
        CONSTRAINT buildings_polygon_or_point
        CHECK (GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON', 'POINT')),
    geom_3857      geometry(Geometry, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED
);

-- Which building belongs to which grid, per plan.
CREATE TABLE grid_members (
    plan_id     int NOT NULL REFERENCES grid_plans (id) ON DELETE CASCADE,
    building_id int NOT NULL REFERENCES buildings (id) ON DELETE CASCADE,
    grid_id     int NOT NULL REFERENCES grids (id) ON DELETE CASCADE,
    PRIMARY KEY (plan_id, building_id)
);
CREATE INDEX grid_members_grid ON grid_members (grid_id);

CREATE TABLE cameras (
    id            serial PRIMARY KEY,
    code          text UNIQUE
        CONSTRAINT cameras_code_gbt28181 CHECK (code ~ '^[0-9]{20}$'),
    name          text,
    class         char(1) NOT NULL DEFAULT 'B'
        CONSTRAINT cameras_class_known CHECK (class IN ('A', 'B', 'C')),
    kind          text NOT NULL DEFAULT 'bullet'
        CONSTRAINT cameras_kind_known CHECK (kind IN ('bullet', 'dome', 'ptz', 'face', 'vehicle')),
    azimuth       double precision NOT NULL DEFAULT 0
        CONSTRAINT cameras_azimuth_in_range CHECK (azimuth >= 0 AND azimuth < 360),
    fov           double precision NOT NULL DEFAULT 90
        CONSTRAINT cameras_fov_in_range CHECK (fov > 0 AND fov <= 360),
    range_m       double precision NOT NULL DEFAULT 50
        CONSTRAINT cameras_range_in_range CHECK (range_m > 0 AND range_m <= 2000),
    height_m      double precision NOT NULL DEFAULT 4
        CONSTRAINT cameras_height_in_range CHECK (height_m >= 0 AND height_m <= 300),
    tilt          double precision NOT NULL DEFAULT 10
        CONSTRAINT cameras_tilt_in_range CHECK (tilt >= 0 AND tilt <= 90),
    resolution_px int CONSTRAINT cameras_resolution_positive CHECK (resolution_px > 0),
    status        text NOT NULL DEFAULT 'online'
        CONSTRAINT cameras_status_known CHECK (status IN ('online', 'offline', 'fault')),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    geom          geometry(Point, 4326) NOT NULL,
    geom_3857     geometry(Point, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED
);

-- What each camera really sees (sector − blind strip − building shadows), metres² in area_m2.
CREATE TABLE camera_views (
    camera_id   int PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
    geom        geometry(MultiPolygon, 4326),
    geom_3857   geometry(MultiPolygon, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED,
    area_m2     double precision NOT NULL DEFAULT 0,
    computed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE incidents (
    id          bigserial PRIMARY KEY,
    external_id text NOT NULL,
    source      text NOT NULL
        CONSTRAINT incidents_source_known CHECK (source IN ('12345', '110', 'grid', 'petition', 'other')),
    category    text NOT NULL
        CONSTRAINT incidents_category_known CHECK (category IN
            ('dispute', 'public_order', 'hazard', 'livelihood', 'city_management', 'other')),
    subcategory text,
    occurred_at timestamptz NOT NULL,
    status      text NOT NULL DEFAULT 'received'
        CONSTRAINT incidents_status_known CHECK (status IN ('received', 'dispatched', 'resolved', 'closed')),
    resolved_at timestamptz,
    h3          bigint NOT NULL,
    grid_id     int REFERENCES grids (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    geom        geometry(Point, 4326) NOT NULL,
    geom_3857   geometry(Point, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED,
    CONSTRAINT incidents_source_external_id_key UNIQUE (source, external_id),
    CONSTRAINT incidents_resolved_after_occurred CHECK (resolved_at IS NULL OR resolved_at >= occurred_at)
);
CREATE INDEX incidents_occurred_at ON incidents (occurred_at);
CREATE INDEX incidents_h3 ON incidents (h3);
CREATE INDEX incidents_grid ON incidents (grid_id);

CREATE TABLE roads (
    id        serial PRIMARY KEY,
    name      text,
    class     text NOT NULL DEFAULT 'local'
        CONSTRAINT roads_class_known CHECK (class IN ('arterial', 'secondary', 'local')),
    geom      geometry(MultiLineString, 4326) NOT NULL,
    geom_3857 geometry(MultiLineString, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED
);

-- Rivers and canals: barriers for grid planning, part of the offline base map.
CREATE TABLE waterways (
    id        serial PRIMARY KEY,
    name      text,
    kind      text NOT NULL DEFAULT 'river',
    geom      geometry(Geometry, 4326) NOT NULL,
    geom_3857 geometry(Geometry, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED
);

CREATE TABLE places (
    id        serial PRIMARY KEY,
    name      text,
    kind      text NOT NULL DEFAULT 'other'
        CONSTRAINT places_kind_known CHECK (kind IN
            ('school', 'hospital', 'hotel', 'station', 'police', 'market', 'government', 'other')),
    key       boolean NOT NULL DEFAULT false,
    geom      geometry(Geometry, 4326) NOT NULL,
    geom_3857 geometry(Geometry, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED
);

CREATE TABLE coverage_gaps (
    id                serial PRIMARY KEY,
    geom              geometry(MultiPolygon, 4326) NOT NULL,
    geom_3857         geometry(MultiPolygon, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED,
    area_m2           double precision NOT NULL,
    incidents         int NOT NULL DEFAULT 0,
    nearest_camera_id int REFERENCES cameras (id) ON DELETE SET NULL,
    nearest_camera_m  double precision,
    priority          double precision NOT NULL DEFAULT 0,
    community_code    text,
    computed_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id         serial PRIMARY KEY,
    key_id     text NOT NULL UNIQUE,
    name       text,
    role       text NOT NULL
        CONSTRAINT api_keys_role_known CHECK (role IN ('admin', 'planner', 'viewer', 'widget')),
    key_hash   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE audit_log (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text NOT NULL,
    action text NOT NULL,
    target text,
    detail jsonb
);

CREATE TABLE plan_edits (
    id      bigserial PRIMARY KEY,
    plan_id int NOT NULL REFERENCES grid_plans (id) ON DELETE CASCADE,
    version int NOT NULL,
    actor   text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    kind    text NOT NULL,
    detail  jsonb
);

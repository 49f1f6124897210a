"""The tile layer registry: what each layer reads, shows and how it behaves by zoom.

One :class:`TileLayer` per layer of ARCHITECTURE.md §5 (plus ``waterways`` for the base
map). SQL fragments here are written against the alias ``t`` of the layer's
table; ``tiles.sql`` assembles them into stable statement texts.

Examples
--------
>>> from tiles.settings import TileSettings
>>> layer = get_layer("cameras", registry(TileSettings(_env_file=None)))
>>> layer.kind, layer.filters
('point', ())
>>> [p.name for p in layer.properties][:3]
['code', 'name', 'class']
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from geo.errors import UnknownLayer
from geo.vocabulary import CATEGORIES
from tiles.settings import TileSettings

CAMERA_CLASSES = ("A", "B", "C")
INCIDENT_FILTERS = ("from", "to", "category", "source")


@dataclass(frozen=True)
class Prop:
    """One feature property: its name, SQL expression (alias ``t``) and TileJSON type."""

    name: str
    sql: str
    type: str = "String"


@dataclass(frozen=True)
class ZoomRule:
    """Below ``below`` (exclusive), keep only rows matching ``where``."""

    below: int
    where: str


@dataclass(frozen=True)
class TileLayer:
    """How one layer becomes MVT.

    Parameters
    ----------
    name : str
        Layer name in URLs and inside the tile.
    table : str
        Table it reads (``None`` for computed layers such as hotspots).
    kind : {"point", "line", "polygon", "mixed", "cells"}
        Geometry kind; points cluster, lines and polygons simplify.
    properties : tuple of Prop
        Properties written into each feature.
    id_sql : str
        Stable integer feature id.
    where : str
        Extra condition always applied (e.g. the grid plan).
    minzoom, maxzoom : int
        Zoom range advertised in TileJSON; below ``minzoom`` tiles are empty.
    cluster_below : int or None
        Points are clustered into grid cells below this zoom.
    cluster_counts : tuple of (name, condition)
        Extra per-category counts in a cluster.
    simplify_below : int or None
        Lines/polygons are simplified below this zoom.
    zoom_rules : tuple of ZoomRule
        Per-zoom row selection (the first rule whose ``below`` exceeds z wins).
    filters : tuple of str
        Query filters accepted (``from``, ``to``, ``category``, ``source``, ``plan``).
    time_sql : str or None
        Column the ``from``/``to`` filters apply to.
    depends_on : tuple of str
        ``layer_versions`` keys whose change invalidates this layer's tiles.
    role_sensitive : bool
        Output differs for the ``widget`` role (responses are ``private``).
    snap_zooms_sql : str or None
        Bitmask column of the zooms at which a footprint stays valid once snapped to the
        tile grid (``onemap_mvt_snap_zooms``); such footprints skip ``ST_AsMVTGeom``.
    """

    name: str
    table: str | None
    kind: str
    properties: tuple[Prop, ...]
    id_sql: str = "t.id"
    where: str = ""
    minzoom: int = 0
    maxzoom: int = 22
    cluster_below: int | None = None
    cluster_counts: tuple[tuple[str, str], ...] = ()
    simplify_below: int | None = None
    zoom_rules: tuple[ZoomRule, ...] = ()
    filters: tuple[str, ...] = ()
    time_sql: str | None = None
    depends_on: tuple[str, ...] = ()
    role_sensitive: bool = False
    snap_zooms_sql: str | None = None
    feature_limit: int = 20_000
    timeout_ms: int = 10_000
    cache_control: str = "public, max-age=60"
    description: str = ""

    def zoom_where(self, z: int) -> str:
        """The per-zoom row condition at ``z`` ('' when none applies)."""
        for rule in sorted(self.zoom_rules, key=lambda r: r.below):
            if z < rule.below:
                return rule.where
        return ""

    def clustered(self, z: int) -> bool:
        """True when tiles at ``z`` carry clusters instead of raw points."""
        return self.cluster_below is not None and z < self.cluster_below

    def simplified(self, z: int) -> bool:
        """True when geometries are simplified at ``z``."""
        return self.simplify_below is not None and z < self.simplify_below


def _counts(column: str, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((v, f"{column} = '{v}'") for v in values)


_HOUSEHOLDS = (
    "(SELECT coalesce(sum(b.households), 0) FROM grid_members AS m "
    "JOIN buildings AS b ON b.id = m.building_id WHERE m.grid_id = t.id)"
)
_ACTIVE_PLAN = "(SELECT p.id FROM grid_plans AS p WHERE p.status = 'active')"

_BASE: tuple[TileLayer, ...] = (
    TileLayer(
        "admin_areas", "admin_areas", "polygon",
        (Prop("code", "t.code"), Prop("name", "t.name"), Prop("level", "t.level"),
         Prop("parent_code", "t.parent_code")),
        simplify_below=14,
        zoom_rules=(ZoomRule(10, "t.level = 'district'"), ZoomRule(12, "t.level <> 'community'")),
        description="区县 / 街道 / 社区 boundaries",
    ),
    TileLayer(
        "grids", "grids", "polygon",
        (Prop("code", "t.code"), Prop("name", "t.name"),
         Prop("community_code", "t.community_code"), Prop("worker", "t.worker"),
         Prop("plan_id", "t.plan_id", "Number"), Prop("households", _HOUSEHOLDS, "Number")),
        where=f"t.plan_id = coalesce($plan, {_ACTIVE_PLAN})",
        minzoom=10, simplify_below=14, filters=("plan",),
        depends_on=("grids", "buildings"),
        description="网格 of the active plan (or ?plan=<id>) with households per grid",
    ),
    TileLayer(
        "buildings", "buildings", "mixed",
        (Prop("code", "t.code"), Prop("households", "t.households", "Number"),
         Prop("population", "t.population", "Number"), Prop("floors", "t.floors", "Number"),
         Prop("kind", "t.kind"), Prop("community_code", "t.community_code")),
        minzoom=13, simplify_below=15, snap_zooms_sql="t.mvt_snap_zooms",
        description="楼栋 with households",
    ),
    TileLayer(
        "cameras", "cameras", "point",
        (Prop("code", "t.code"), Prop("name", "t.name"), Prop("class", "t.class"),
         Prop("kind", "t.kind"), Prop("azimuth", "t.azimuth", "Number"),
         Prop("fov", "t.fov", "Number"), Prop("range_m", "t.range_m", "Number"),
         Prop("status", "t.status")),
        cluster_below=14, cluster_counts=_counts("t.class", CAMERA_CLASSES),
        role_sensitive=True, description="雪亮工程 cameras; clusters carry count and A/B/C",
    ),
    TileLayer(
        "camera_views", "camera_views", "polygon",
        (Prop("camera_id", "t.camera_id", "Number"), Prop("area_m2", "t.area_m2", "Number")),
        id_sql="t.camera_id", minzoom=12, simplify_below=15,
        depends_on=("camera_views",), role_sensitive=True,
        description="what each camera sees (sector minus blind strip and shadows)",
    ),
    TileLayer(
        "incidents", "incidents", "point",
        (Prop("source", "t.source"), Prop("category", "t.category"),
         Prop("subcategory", "t.subcategory"), Prop("status", "t.status"),
         Prop("occurred_at", "to_char(t.occurred_at AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")),
        cluster_below=15, cluster_counts=_counts("t.category", CATEGORIES),
        filters=INCIDENT_FILTERS, time_sql="t.occurred_at", role_sensitive=True,
        description="incidents; clusters carry count and per-category counts",
    ),
    TileLayer(
        "roads", "roads", "line",
        (Prop("name", "t.name"), Prop("class", "t.class"), Prop("oneway", "t.oneway")),
        simplify_below=14,
        zoom_rules=(ZoomRule(11, "t.class = 'arterial'"), ZoomRule(13, "t.class <> 'local'")),
        description="roads; arterials from z0, secondary from z11, local from z13",
    ),
    TileLayer(
        "places", "places", "mixed",
        (Prop("name", "t.name"), Prop("kind", "t.kind"), Prop("key", "t.key", "Boolean")),
        simplify_below=14, description="key places (schools, hospitals, stations …)",
    ),
    TileLayer(
        "coverage_gaps", "coverage_gaps", "polygon",
        (Prop("area_m2", "t.area_m2", "Number"), Prop("incidents", "t.incidents", "Number"),
         Prop("priority", "t.priority", "Number"),
         Prop("nearest_camera_m", "t.nearest_camera_m", "Number"),
         Prop("community_code", "t.community_code")),
        simplify_below=14, role_sensitive=True,
        description="camera coverage gaps ranked by incidents inside",
    ),
    TileLayer(
        "posts", "posts", "point",
        (Prop("code", "t.code"), Prop("name", "t.name"), Prop("kind", "t.kind"),
         Prop("mode", "t.mode"), Prop("status", "t.status"),
         Prop("turnout_s", "t.turnout_s", "Number")),
        cluster_below=12, description="response posts (police, patrol, fire, 党群服务中心)",
    ),
    TileLayer(
        "response_areas", "response_areas", "polygon",
        (Prop("mode", "t.mode"), Prop("minutes", "t.minutes", "Number"),
         Prop("overlap", "t.overlap"), Prop("post_code", "t.post_code"),
         Prop("post_name", "t.post_name"), Prop("households", "t.households", "Number"),
         Prop("population", "t.population", "Number"), Prop("area_m2", "t.area_m2", "Number")),
        simplify_below=15, description="应急处置圈 per break (dissolved, and per post)",
    ),
    TileLayer(
        "case_warnings", "case_warnings", "point",
        (Prop("light", "t.light"), Prop("category", "t.category"), Prop("source", "t.source"),
         Prop("status", "t.status"), Prop("department", "t.department"),
         Prop("limit_at", "to_char(t.limit_at AT TIME ZONE 'UTC', "
                          "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")),
        cluster_below=13, cluster_counts=_counts("t.light", ("red", "yellow", "green")),
        filters=INCIDENT_FILTERS, time_sql="t.occurred_at", depends_on=("incidents",),
        role_sensitive=True, cache_control="private, max-age=60",
        description="open cases lit red / yellow / green now (time limits: case_limits)",
    ),
    TileLayer(
        "safety_index", "safety_index", "polygon",
        (Prop("code", "t.code"), Prop("name", "t.name"), Prop("unit_level", "t.unit_level"),
         Prop("period", "t.period"), Prop("index", "t.index", "Number"),
         Prop("rank", "t.rank", "Number"), Prop("change", "t.change", "Number"),
         Prop("level", "t.risk")),
        simplify_below=14, depends_on=("safety_index",),
        description="平安指数 per unit and period (filter in the client by unit_level, period)",
    ),
    TileLayer(
        "waterways", "waterways", "mixed",
        (Prop("name", "t.name"), Prop("kind", "t.kind")),
        simplify_below=14, description="rivers and canals (base map)",
    ),
    TileLayer(
        "hotspots", None, "cells",
        (Prop("h3", ""), Prop("count", "", "Number"), Prop("gi_z", "", "Number"),
         Prop("p_value", "", "Number"), Prop("bin", "", "Number"), Prop("class", "")),
        minzoom=9, filters=INCIDENT_FILTERS, depends_on=("incidents", "admin_areas"),
        role_sensitive=True,
        description="Gi* hotspot H3 cells (res by zoom) with FDR bins",
    ),
)

LAYER_NAMES = tuple(layer.name for layer in _BASE)


def registry(settings: TileSettings) -> dict[str, TileLayer]:
    """All layers with the settings' defaults and per-layer overrides applied."""
    out = {}
    for layer in _BASE:
        layer = replace(
            layer,
            feature_limit=settings.tile_feature_limit,
            timeout_ms=settings.tile_timeout_ms,
            cache_control=settings.tile_cache_control,
            cluster_below=None if layer.cluster_below is None else settings.tile_cluster_below
            + (layer.cluster_below - 14),
            simplify_below=None if layer.simplify_below is None else min(
                layer.simplify_below, settings.tile_simplify_below
            ),
            depends_on=layer.depends_on or (layer.name,),
        )
        override = settings.tile_layers.get(layer.name)
        if override is not None:
            layer = replace(layer, **override.model_dump(exclude_none=True))
        out[layer.name] = layer
    unknown = set(settings.tile_layers) - set(out)
    if unknown:
        names = ", ".join(sorted(unknown))
        raise UnknownLayer(f"ONEMAP_TILE_LAYERS names unknown layer(s): {names}")
    return out


def get_layer(name: str, layers: dict[str, TileLayer]) -> TileLayer:
    """The layer called ``name`` in ``layers`` (a :func:`registry`), or ``UnknownLayer``."""
    try:
        return layers[name]
    except KeyError:
        raise UnknownLayer(
            f"unknown tile layer {name!r}; known: {', '.join(sorted(layers))}"
        ) from None

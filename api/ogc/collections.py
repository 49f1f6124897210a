"""OGC API Features collections: which table, which properties, which time column.

Property expressions are SQL on the alias ``t``; ``filterable`` properties accept
equality filters in the items query (``?status=online``), their values parsed by
``kind`` and bound as parameters.

Examples
--------
>>> c = get_collection("cameras")
>>> c.datetime_sql, c.props["class"].kind
('t.updated_at', 'string')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geo.errors import UnknownLayer

COLLECTION_NAMES = ("admin_areas", "grids", "buildings", "cameras", "camera_views", "incidents",
                    "roads", "places", "coverage_gaps", "posts", "response_areas", "case_warnings",
                    "safety_index")


@dataclass(frozen=True)
class Prop:
    """One property: SQL expression, JSON kind, and whether it can be filtered on."""

    sql: str
    kind: str = "string"  # string | integer | number | boolean | datetime
    filterable: bool = True


@dataclass(frozen=True)
class Collection:
    """One OGC collection backed by a table."""

    name: str
    title: str
    description: str
    geometry: str
    props: dict[str, Prop]
    id_sql: str = "t.id"
    datetime_sql: str | None = None
    default_where: str = ""
    overrides_default: tuple[str, ...] = field(default=())


def _p(*names: str, kind: str = "string") -> dict[str, Prop]:
    return {n: Prop(f"t.{n}", kind) for n in names}


_HOUSEHOLDS = (
    "(SELECT coalesce(sum(b.households), 0) FROM grid_members AS m "
    "JOIN buildings AS b ON b.id = m.building_id WHERE m.grid_id = t.id)"
)

COLLECTIONS: dict[str, Collection] = {c.name: c for c in (
    Collection(
        "admin_areas", "Administrative areas", "区县 / 街道 / 社区 boundaries", "MultiPolygon",
        _p("code", "name", "level", "parent_code"),
    ),
    Collection(
        "grids", "Grids", "网格 of the active plan (filter plan_id=<id> for another plan), "
        "with households summed from the grid's buildings", "MultiPolygon",
        _p("code", "name", "community_code", "worker") | _p("plan_id", kind="integer")
        | {"households": Prop(_HOUSEHOLDS, "integer", filterable=False)},
        default_where="t.plan_id = (SELECT p.id FROM grid_plans AS p WHERE p.status = 'active')",
        overrides_default=("plan_id",),
    ),
    Collection(
        "buildings", "Buildings", "楼栋 with households, population and floors", "Geometry",
        _p("code", "kind", "community_code")
        | _p("households", "population", "floors", kind="integer"),
    ),
    Collection(
        "cameras", "Cameras", "雪亮工程 cameras (class A/B/C, kind, view parameters, status)",
        "Point",
        _p("code", "name", "class", "kind", "status")
        | _p("azimuth", "fov", "range_m", "height_m", "tilt", kind="number")
        | _p("resolution_px", kind="integer") | _p("updated_at", kind="datetime"),
        datetime_sql="t.updated_at",
    ),
    Collection(
        "camera_views", "Camera views",
        "what each camera sees: sector minus blind strip and building shadows", "MultiPolygon",
        _p("camera_id", kind="integer") | _p("area_m2", kind="number")
        | _p("computed_at", kind="datetime"),
        id_sql="t.camera_id",
    ),
    Collection(
        "incidents", "Incidents", "12345 / 110 / grid / petition cases", "Point",
        _p("external_id", "source", "category", "subcategory", "status")
        | _p("occurred_at", "resolved_at", kind="datetime") | _p("grid_id", kind="integer"),
        datetime_sql="t.occurred_at",
    ),
    Collection(
        "roads", "Roads", "roads by class (arterial / secondary / local)", "MultiLineString",
        _p("name", "class", "oneway") | _p("speed_kmh", kind="number"),
    ),
    Collection(
        "places", "Places", "key places: schools, hospitals, stations, markets …", "Geometry",
        _p("name", "kind") | _p("key", kind="boolean"),
    ),
    Collection(
        "posts", "Posts", "police stations and posts, patrol points, fire, 党群服务中心 …",
        "Point",
        _p("code", "name", "kind", "mode", "status") | _p("turnout_s", kind="number"),
    ),
    Collection(
        "response_areas", "Response areas",
        "应急处置圈: street pieces reached within each break, widened by the road side "
        "(post null: all posts dissolved)", "MultiPolygon",
        _p("mode", "overlap", "post_code", "post_name") | _p("minutes", "area_m2", kind="number")
        | _p("households", "population", kind="integer") | _p("computed_at", kind="datetime"),
    ),
    Collection(
        "coverage_gaps", "Coverage gaps", "public areas no camera sees, ranked by incidents",
        "MultiPolygon",
        _p("community_code") | _p("area_m2", "nearest_camera_m", "priority", kind="number")
        | _p("incidents", "nearest_camera_id", kind="integer")
        | _p("computed_at", kind="datetime"),
    ),
    Collection(
        "case_warnings", "Case warnings", "open cases lit red (past their time limit), yellow "
        "(≥ 80 % of it used) or green, now (ARCHITECTURE.md §10)", "Point",
        _p("external_id", "source", "category", "subcategory", "status", "department", "light")
        | _p("occurred_at", "limit_at", kind="datetime") | _p("grid_id", kind="integer"),
        datetime_sql="t.occurred_at",
    ),
    Collection(
        "safety_index", "平安指数", "the last computed safety index per unit and period "
        "(0–100, higher is safer) with its rank, change and risk level", "MultiPolygon",
        _p("code", "name", "unit_level", "period") | {"level": Prop("t.risk")}
        | _p("index", "change", kind="number") | _p("rank", kind="integer")
        | {"components": Prop("t.components", "object", filterable=False)}
        | _p("computed_at", kind="datetime"),
    ),
)}


def get_collection(name: str) -> Collection:
    """The collection called ``name``, or :class:`~geo.errors.UnknownLayer` (404)."""
    try:
        return COLLECTIONS[name]
    except KeyError:
        raise UnknownLayer(
            f"unknown collection {name!r}; known: {', '.join(COLLECTION_NAMES)}"
        ) from None

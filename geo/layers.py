"""Per-layer specifications: canonical fields, types, geometry types, enumerations.

Also the required fields and the aliases people actually write in their files.

One :class:`LayerSpec` per loadable table. ``LAYERS`` holds the eight contract
layers of ARCHITECTURE.md §4 plus ``waterways`` (loaded by the demo city, not by the CLI
contract). Importers, exporters, the HTTP ingest and the OGC/tiles code read
field lists from here instead of repeating them.

Examples
--------
>>> spec = get_layer("cameras")
>>> spec.fields["class"].normalise("二类")
'B'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geo.errors import UnknownLayer
from geo.vocabulary import (
    ADMIN_LEVELS,
    CAMERA_CLASSES,
    CAMERA_KINDS,
    CAMERA_STATUSES,
    CATEGORIES,
    INCIDENT_STATUSES,
    ONEWAYS,
    PLACE_KINDS,
    POST_KINDS,
    POST_STATUSES,
    ROAD_CLASSES,
    SOURCES,
    TRAVEL_MODES,
)

CONTRACT_LAYERS = ("admin_areas", "grids", "buildings", "cameras", "incidents", "roads", "places",
                   "posts")

_TRUE = {"true", "t", "1", "yes", "y", "是", "重点", "key"}
_FALSE = {"false", "f", "0", "no", "n", "否", "非重点", ""}


@dataclass(frozen=True)
class FieldSpec:
    """One attribute of a layer.

    Parameters
    ----------
    name : str
        Canonical name (ARCHITECTURE.md §4).
    kind : {"text", "int", "float", "bool", "time", "enum"}
        How the value is parsed.
    required : bool
        Every row must carry a value.
    choices : tuple of str
        Allowed values for ``enum`` fields.
    aliases : dict
        Other spellings (lower-cased) → canonical value, for ``enum`` fields.
    low, high : float, optional
        Inclusive numeric range; ``high_open`` makes the upper bound exclusive.
    default : object, optional
        Value for empty cells when the column is present (the database's default).
    """

    name: str
    kind: str = "text"
    required: bool = False
    choices: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    low: float | None = None
    high: float | None = None
    high_open: bool = False
    low_open: bool = False
    default: object = None

    def normalise(self, value: str) -> str | None:
        """The canonical enum value for ``value``, or None when it is not allowed."""
        key = str(value).strip()
        if key in self.choices:
            return key
        low = key.lower()
        if low in self.choices:
            return low
        return self.aliases.get(low) or self.aliases.get(key)

    def range_text(self) -> str:
        """The allowed range as text, for messages."""
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        return f"{lo}{_num(self.low)}, {_num(self.high)}{hi}"


def _num(v: float | None) -> str:
    if v is None:
        return "∞"
    return str(int(v)) if float(v).is_integer() else str(v)


@dataclass(frozen=True)
class LoadHooks:
    """What loading a layer does besides validating and inserting its fields.

    Declared per layer here and carried out once each by the loader (:mod:`geo.io`),
    so the loader has no branch per layer name. The default does nothing more.

    Parameters
    ----------
    per_plan : bool
        Rows belong to a grid plan (``plan_id``): they go into the active plan (made
        when there is none) unless a row names its own, and exports read the active plan.
    in_grids : bool
        Each point gets the grid of the active plan that holds it (``grid_id``) and its
        exact H3 cells; large loads take the bulk path (table lock, index rebuild).
    members : {None, "plans", "active"}
        Grid memberships to bring up to date after the write: of the plans written
        (and the incidents' grids in the active one), or of the active plan.
    changes : {None, "ids", "bounds"}
        What the load report records for derived tables (camera views): the ids of the
        rows written, or the bounds of the geometries written.
    row_checks : tuple of str
        Extra per-row checks by name (``camera_code``: GB/T 28181 codes; ``incident``:
        times in order and not in the future).
    code_or_same_row : bool
        A row with a ``code`` is matched by it; one without is skipped when an equal
        row (geometry and name) exists.
    stamp_updates : bool
        Updated rows get ``updated_at = now()``.
    """

    per_plan: bool = False
    in_grids: bool = False
    members: str | None = None
    changes: str | None = None
    row_checks: tuple[str, ...] = ()
    code_or_same_row: bool = False
    stamp_updates: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """What a layer's rows look like and how they are stored.

    Parameters
    ----------
    name : str
        Layer name (the table name).
    fields : dict of FieldSpec
        Canonical attributes in export order.
    geometry : tuple of str
        Allowed shapely geometry types (``Multi*`` of each is allowed too).
    db_geometry : str
        ``point``, ``multi`` (ST_Multi before insert) or ``any``.
    key : tuple of str
        Natural key used for idempotent loads (empty: none; rows are then
        compared by geometry and name).
    conflict_target : str, optional
        The ``ON CONFLICT`` target of the natural key.
    hooks : LoadHooks
        What a load of this layer does besides inserting rows.
    """

    name: str
    fields: dict[str, FieldSpec]
    geometry: tuple[str, ...]
    db_geometry: str
    key: tuple[str, ...] = ()
    conflict_target: str | None = None
    hooks: LoadHooks = LoadHooks()

    @property
    def required(self) -> list[str]:
        """Names of required fields."""
        return [f.name for f in self.fields.values() if f.required]

    def allowed_types(self) -> set[str]:
        """Shapely geometry type names accepted on load."""
        out = set(self.geometry)
        out |= {f"Multi{g}" for g in self.geometry if g in ("Polygon", "LineString")}
        return out


def _f(name: str, kind: str = "text", **kw) -> tuple[str, FieldSpec]:
    return name, FieldSpec(name, kind, **kw)


def _enum(name: str, choices: tuple[str, ...], aliases: dict[str, str] | None = None,
          **kw) -> tuple[str, FieldSpec]:
    return name, FieldSpec(name, "enum", choices=choices, aliases=aliases or {}, **kw)


_LEVEL_ALIASES = {"区": "district", "县": "district", "区县": "district", "街道": "street",
                  "乡镇": "street", "镇": "street", "乡": "street", "社区": "community",
                  "村": "community", "社区/村": "community"}
_CLASS_ALIASES = {"一类": "A", "二类": "B", "三类": "C", "1": "A", "2": "B", "3": "C",
                  "a": "A", "b": "B", "c": "C", "一类点位": "A", "二类点位": "B", "三类点位": "C"}
_CAM_KIND_ALIASES = {"枪机": "bullet", "球机": "dome", "半球": "dome", "云台": "ptz",
                     "人脸": "face", "人脸抓拍": "face", "卡口": "vehicle", "车辆卡口": "vehicle"}
_CAM_STATUS_ALIASES = {"在线": "online", "离线": "offline", "故障": "fault", "正常": "online"}
_SOURCE_ALIASES = {"12345热线": "12345", "热线": "12345", "110警情": "110", "网格": "grid",
                   "网格员": "grid", "信访": "petition", "其他": "other"}
_CATEGORY_ALIASES = {"矛盾纠纷": "dispute", "纠纷": "dispute", "治安": "public_order",
                     "社会治安": "public_order", "安全隐患": "hazard", "隐患": "hazard",
                     "民生": "livelihood", "民生诉求": "livelihood", "城市管理": "city_management",
                     "城管": "city_management", "其他": "other"}
_INC_STATUS_ALIASES = {"受理": "received", "已受理": "received", "派单": "dispatched",
                       "已派单": "dispatched", "办结": "resolved", "已办结": "resolved",
                       "结案": "closed", "已结案": "closed"}
SATISFACTION = ("satisfied", "basic", "unsatisfied")
_SATISFACTION_ALIASES = {"满意": "satisfied", "非常满意": "satisfied", "基本满意": "basic",
                         "不满意": "unsatisfied"}
_ROAD_ALIASES = {"主干道": "arterial", "主干路": "arterial", "次干道": "secondary",
                 "次干路": "secondary", "支路": "local"}
_ONEWAY_ALIASES = {"双向": "no", "单向": "yes", "反向": "reverse", "false": "no", "true": "yes",
                   "0": "no", "1": "yes", "-1": "reverse", "f": "no", "t": "yes", "b": "no",
                   "ft": "yes", "tf": "reverse"}
_POST_KIND_ALIASES = {"派出所": "police_station", "警务站": "police_post", "警务室": "police_post",
                      "巡逻点": "patrol", "巡逻": "patrol", "消防站": "fire", "消防": "fire",
                      "急救站": "medical", "医疗": "medical", "网格工作站": "grid_station",
                      "党群服务中心": "service_centre", "服务中心": "service_centre"}
_POST_MODE_ALIASES = {"车": "drive", "驾车": "drive", "car": "drive", "步行": "walk",
                      "foot": "walk"}
_POST_STATUS_ALIASES = {"在岗": "on_duty", "值班": "on_duty", "on": "on_duty",
                        "离岗": "off_duty", "不在岗": "off_duty", "off": "off_duty"}
_PLACE_ALIASES = {"学校": "school", "医院": "hospital", "宾馆": "hotel", "酒店": "hotel",
                  "车站": "station", "派出所": "police", "公安": "police", "市场": "market",
                  "政府": "government", "机关": "government", "其他": "other"}

LAYERS: dict[str, LayerSpec] = {
    "admin_areas": LayerSpec(
        "admin_areas",
        dict([_f("code", required=True), _f("name", required=True),
              _enum("level", ADMIN_LEVELS, _LEVEL_ALIASES, required=True),
              _f("parent_code")]),
        ("Polygon",), "multi", key=("code",), conflict_target="(code)",
    ),
    "grids": LayerSpec(
        "grids",
        dict([_f("code", required=True), _f("name"), _f("community_code"), _f("worker")]),
        ("Polygon",), "multi", key=("code",), conflict_target="(plan_id, code)",
        hooks=LoadHooks(per_plan=True, members="plans"),
    ),
    "buildings": LayerSpec(
        "buildings",
        dict([_f("code"), _f("households", "int", low=0, default=0), _f("population", "int", low=0),
              _f("floors", "int", low=0), _f("kind"), _f("community_code")]),
        ("Polygon", "Point"), "any", key=("code",), conflict_target="(code)",
        hooks=LoadHooks(members="active", changes="bounds", code_or_same_row=True),
    ),
    "cameras": LayerSpec(
        "cameras",
        dict([_f("code"), _f("name"),
              _enum("class", CAMERA_CLASSES, _CLASS_ALIASES, default="B"),
              _enum("kind", CAMERA_KINDS, _CAM_KIND_ALIASES,
                    default="bullet"),
              _f("azimuth", "float", low=0, high=360, high_open=True, default=0.0),
              _f("fov", "float", low=0, high=360, low_open=True, default=90.0),
              _f("range_m", "float", low=0, high=2000, low_open=True, default=50.0),
              _f("height_m", "float", low=0, high=300, default=4.0),
              _f("tilt", "float", low=0, high=90, default=10.0),
              _enum("status", CAMERA_STATUSES, _CAM_STATUS_ALIASES,
                    default="online")]),
        ("Point",), "point", key=("code",), conflict_target="(code)",
        hooks=LoadHooks(changes="ids", row_checks=("camera_code",), code_or_same_row=True,
                        stamp_updates=True),
    ),
    "incidents": LayerSpec(
        "incidents",
        dict([_f("external_id"),
              _enum("source", SOURCES, _SOURCE_ALIASES,
                    required=True),
              _enum("category", CATEGORIES, _CATEGORY_ALIASES, required=True),
              _f("subcategory"), _f("occurred_at", "time", required=True),
              _enum("status", INCIDENT_STATUSES, _INC_STATUS_ALIASES, default="received"),
              _f("resolved_at", "time"),
              # Case flow (ARCHITECTURE.md §4, §10), all optional.
              _f("department"), _f("dispatched_at", "time"), _f("due_at", "time"),
              _f("closed_at", "time"),
              _enum("satisfaction", SATISFACTION, _SATISFACTION_ALIASES),
              _f("reopened", "int", low=0, default=0),
              _enum("routed_from", SOURCES, _SOURCE_ALIASES)]),
        ("Point",), "point", key=("source", "external_id"),
        conflict_target="ON CONSTRAINT incidents_source_external_id_key",
        hooks=LoadHooks(in_grids=True, row_checks=("incident",)),
    ),
    "roads": LayerSpec(
        "roads",
        dict([_f("name"), _enum("class", ROAD_CLASSES, _ROAD_ALIASES,
                    default="local"),
              _enum("oneway", ONEWAYS, _ONEWAY_ALIASES, default="no"),
              _f("speed_kmh", "float", low=0, high=200, low_open=True)]),
        ("LineString",), "multi",
    ),
    "places": LayerSpec(
        "places",
        dict([_f("name"),
              _enum("kind", PLACE_KINDS, _PLACE_ALIASES, default="other"),
              _f("key", "bool", default=False)]),
        ("Point", "Polygon"), "any",
    ),
    "posts": LayerSpec(
        "posts",
        dict([_f("code"), _f("name"),
              _enum("kind", POST_KINDS, _POST_KIND_ALIASES,
                    default="police_post"),
              _enum("mode", TRAVEL_MODES, _POST_MODE_ALIASES, default="drive"),
              _f("turnout_s", "float", low=0, high=3600, default=0.0),
              _enum("status", POST_STATUSES, _POST_STATUS_ALIASES,
                    default="on_duty")]),
        ("Point",), "point", key=("code",), conflict_target="(code)",
    ),
    "waterways": LayerSpec(
        "waterways",
        dict([_f("name"), _f("kind", default="river")]),
        ("LineString", "Polygon"), "any",
    ),
}


def get_layer(name: str, *, contract_only: bool = False) -> LayerSpec:
    """The spec of a layer.

    Raises
    ------
    UnknownLayer
        When ``name`` is not a layer (or not a contract layer with ``contract_only``).
    """
    names = CONTRACT_LAYERS if contract_only else tuple(LAYERS)
    if name not in names:
        raise UnknownLayer(f"unknown layer {name!r}; layers are: {', '.join(names)}")
    return LAYERS[name]


def parse_bool(value) -> bool | None:
    """``True``/``False`` for the spellings in ``_TRUE``/``_FALSE``, else None."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def shapefile_names(spec: LayerSpec) -> dict[str, str]:
    """Shapefile (DBF) truncates field names to 10 characters: truncated → canonical."""
    return {f[:10]: f for f in spec.fields if len(f) > 10}

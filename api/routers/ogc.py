"""OGC API Features Part 1 (Core) under ``/ogc``; GeoJSON only.

Read by GDAL (``OAPIF:http://host/ogc``), QGIS and any OGC client. The ``widget``
role never sees incidents (403) and sees cameras per ``ONEMAP_WIDGET_CAMERAS``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Path, Request, Response
from starlette.exceptions import HTTPException

from api.auth import current_role
from api.deps import OgcSettingsDep
from api.models.base import documented
from api.models.ogc import Collection as CollectionDoc
from api.models.ogc import Collections, Conformance, Item, Items, Landing
from api.ogc import documents
from api.ogc.collections import COLLECTION_NAMES, Collection, get_collection
from api.ogc.query import ItemsQuery, feature_sql, item_sql, items_sql, number_matched
from api.secrets import TOKEN_PARAMS
from geo.errors import InvalidInput, NotFound
from geo.widget import WIDGET
from tiles.service import outward

router = APIRouter(tags=["ogc"])

_EXTENT = """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
FROM (SELECT CASE WHEN (SELECT reltuples FROM pg_class WHERE oid = '{table}'::regclass) > 100000
                  THEN ST_EstimatedExtent('public', '{table}', 'geom')
                  ELSE (SELECT ST_Extent(geom) FROM {table}) END AS e) AS s"""


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(doc: dict, media_type: str = documents.JSON) -> Response:
    return Response(orjson.dumps(doc), media_type=media_type)


def _check_format(request: Request) -> None:
    f = request.query_params.get("f")
    if f not in (None, "", "json", "geojson"):
        raise InvalidInput(f"f={f} is not offered; this API speaks json/geojson")


def _guard(request: Request, c: Collection) -> None:
    """403 for what the widget role may not list as features (``geo.widget``)."""
    if current_role(request) != WIDGET:
        return
    why = request.app.state.onemap.widget.refuses("features", c.name)
    if why:
        raise HTTPException(403, why)


@router.get("/ogc", response_class=Response, responses=documented(Landing))
async def landing(request: Request) -> Response:
    """Landing page with links to the API definition, conformance and collections."""
    _check_format(request)
    return _json(documents.landing(_base(request)))


@router.get("/ogc/conformance", response_class=Response,
            responses=documented(Conformance))
async def conformance(request: Request) -> Response:
    """Conformance classes (core, oas30, geojson)."""
    _check_format(request)
    return _json(documents.conformance())


async def _describe(request: Request, c: Collection) -> dict:
    state = request.app.state.onemap
    # A widget gets the service area's extent for what it may not see, and no time span.
    hidden = current_role(request) == WIDGET and state.widget.hides_extent(c.name)
    pool = await state.pool()
    async with pool.acquire() as conn:
        box = await conn.fetchrow(_EXTENT.format(table="admin_areas" if hidden else c.name))
        interval = None
        if c.datetime_sql is not None and not hidden:
            row = await conn.fetchrow(
                f"SELECT min({c.datetime_sql}), max({c.datetime_sql}) FROM {c.name} AS t"
            )
            if row[0] is not None:
                interval = [row[0].isoformat(), row[1].isoformat()]
    bbox = None if box is None or box[0] is None else outward(box, 7)
    return documents.collection(c, _base(request), bbox, interval)


@router.get("/ogc/collections", response_class=Response,
            responses=documented(Collections))
async def collections(request: Request) -> Response:
    """Every collection with its extent."""
    _check_format(request)
    docs = [await _describe(request, get_collection(n)) for n in COLLECTION_NAMES]
    base = _base(request)
    self_link = {"href": f"{base}/ogc/collections", "rel": "self", "type": documents.JSON}
    return _json({"collections": docs, "links": [self_link]})


@router.get("/ogc/collections/{collection_id}", response_class=Response,
            responses=documented(CollectionDoc))
async def collection(request: Request, collection_id: str = Path(description="collection")):
    """One collection."""
    _check_format(request)
    return _json(await _describe(request, get_collection(collection_id)))


@router.get(
    "/ogc/collections/{collection_id}/items",
    response_class=Response,
    responses=documented(Items, "GeoJSON FeatureCollection", geojson=True),
)
async def items(request: Request, s: OgcSettingsDep,
                collection_id: str = Path(description="collection")):
    """Features with ``bbox``, ``datetime``, ``limit``, ``offset`` and ``<property>=value``."""
    _check_format(request)
    c = get_collection(collection_id)
    _guard(request, c)
    # A key sent as ?access_token= is neither a filter nor copied into the links.
    params = {k: v for k, v in request.query_params.items() if k not in TOKEN_PARAMS}
    q = ItemsQuery.parse(c, params, s.default_limit, s.max_limit,
                         tz=request.app.state.onemap.time.local_timezone)
    sql, args = items_sql(c, q, feature_sql(c))
    pool = await request.app.state.onemap.pool()
    async with pool.acquire() as conn:
        rows = await conn.fetch(sql, *args)
        matched, exact = await number_matched(conn, c, q, s.exact_count_below)
    links = documents.items_links(c, _base(request), q, params, len(rows),
                                  matched if exact else None)
    head = orjson.dumps({
        "type": "FeatureCollection",
        "numberMatched": max(matched, q.offset + len(rows)),
        "numberReturned": len(rows),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "links": links,
    })
    features = b",".join(r[0].encode() for r in rows)
    body = head[:-1] + b',"features":[' + features + b"]}"
    return Response(body, media_type=documents.GEOJSON)


@router.get(
    "/ogc/collections/{collection_id}/items/{feature_id}",
    response_class=Response,
    responses=documented(Item, "GeoJSON Feature", geojson=True),
)
async def item(
    request: Request,
    collection_id: str = Path(description="collection"),
    feature_id: str = Path(description="feature id"),
):
    """One feature by id (404 when absent)."""
    _check_format(request)
    c = get_collection(collection_id)
    _guard(request, c)
    try:
        fid = int(feature_id)
    except ValueError:
        raise NotFound(f"no feature {feature_id!r} in {c.name}") from None
    if not -(2**63) <= fid < 2**63:
        raise NotFound(f"no feature {feature_id!r} in {c.name}")
    pool = await request.app.state.onemap.pool()
    async with pool.acquire() as conn:
        text = await conn.fetchval(item_sql(c, feature_sql(c)), fid)
    if text is None:
        raise NotFound(f"no feature {fid} in {c.name}")
    feature = orjson.loads(text)
    base = _base(request)
    href = f"{base}/ogc/collections/{c.name}"
    feature["links"] = [
        {"href": f"{href}/items/{fid}", "rel": "self", "type": documents.GEOJSON},
        {"href": href, "rel": "collection", "type": documents.JSON},
    ]
    return Response(orjson.dumps(feature), media_type=documents.GEOJSON)

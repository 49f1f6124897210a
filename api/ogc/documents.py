"""The JSON documents of OGC API Features Part 1.

Landing page, conformance, collections, and the links of an items page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from api.ogc.collections import Collection
from api.ogc.query import CRS84, ItemsQuery

JSON = "application/json"
GEOJSON = "application/geo+json"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing(base: str) -> dict:
    """The landing page at ``/ogc``."""
    return {
        "title": "onemap 一张图 OGC API Features",
        "description": "Grids, buildings, cameras, incidents and more of the onemap service",
        "links": [
            _link(f"{base}/ogc", "self", JSON, "this document"),
            _link(f"{base}/openapi.json", "service-desc",
                  "application/vnd.oai.openapi+json;version=3.0", "the API definition"),
            _link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
            _link(f"{base}/ogc/conformance", "conformance", JSON, "conformance classes"),
            _link(f"{base}/ogc/collections", "data", JSON, "the collections"),
        ],
    }


def conformance() -> dict:
    """The conformance classes implemented."""
    return {"conformsTo": CONFORMANCE}


def collection(c: Collection, base: str, bbox: list[float] | None,
               interval: list | None) -> dict:
    """One collection's description with its extent."""
    href = f"{base}/ogc/collections/{c.name}"
    extent: dict = {"spatial": {"bbox": [bbox or [-180.0, -90.0, 180.0, 90.0]], "crs": CRS84}}
    if c.datetime_sql is not None:
        extent["temporal"] = {
            "interval": [interval or [None, None]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return {
        "id": c.name,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent,
        "links": [
            _link(href, "self", JSON, c.title),
            _link(f"{href}/items", "items", GEOJSON, f"{c.title} as GeoJSON"),
        ],
    }


def items_links(c: Collection, base: str, q: ItemsQuery, params: dict, returned: int,
                exact_matched: int | None) -> list[dict]:
    """Links of an items page: self, next, prev, collection.

    With an exact ``numberMatched`` the last page has no next link; with an
    estimate, a full page always links to the next one.
    """
    href = f"{base}/ogc/collections/{c.name}/items"

    def page(offset: int) -> str:
        query = {k: v for k, v in params.items() if k != "offset"}
        query["offset"] = str(offset)
        query["limit"] = str(q.limit)
        return f"{href}?{urlencode(query)}"

    links = [_link(page(q.offset), "self", GEOJSON, "this page")]
    more = returned == q.limit and (exact_matched is None or q.offset + returned < exact_matched)
    if more:
        links.append(_link(page(q.offset + q.limit), "next", GEOJSON, "next page"))
    if q.offset > 0:
        links.append(_link(page(max(0, q.offset - q.limit)), "prev", GEOJSON, "previous page"))
    links.append(_link(f"{base}/ogc/collections/{c.name}", "collection", JSON, c.title))
    return links

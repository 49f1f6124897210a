"""OGC API Features Part 1 Core under /ogc, against the real database."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from sqlalchemy import text
from test_tiles_support import (
    LAT0,
    LON0,
    client_for,
    role_keys,
    seed_cameras,
    seed_incidents,
    seed_plan_with_grids,
)

COLLECTIONS = {"admin_areas", "grids", "buildings", "cameras", "camera_views", "incidents",
               "roads", "places", "coverage_gaps", "posts", "response_areas", "case_warnings",
               "safety_index"}


def _path(href: str) -> str:
    u = urlparse(href)
    return u.path + (f"?{u.query}" if u.query else "")


def _rels(doc: dict) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in doc["links"]}


def test_landing_conformance_and_collections(empty_db, db_settings):
    pts = seed_cameras(empty_db, 12, spread=0.01)
    seed_incidents(empty_db, 30, spread=0.01)
    with client_for(db_settings) as client:
        landing = client.get("/ogc")
        conf = client.get("/ogc/conformance").json()
        cols = client.get("/ogc/collections").json()
        cams = client.get("/ogc/collections/cameras").json()
        missing = client.get("/ogc/collections/parks")
    rels = _rels(landing.json())
    assert landing.headers["content-type"] == "application/json"
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert rels["data"] == "http://testserver/ogc/collections"
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf["conformsTo"]
    assert {c["id"] for c in cols["collections"]} == COLLECTIONS
    assert cams["itemType"] == "feature"
    assert _rels(cams)["items"] == "http://testserver/ogc/collections/cameras/items"
    box = cams["extent"]["spatial"]["bbox"][0]
    assert box[0] <= pts[:, 0].min() and box[2] >= pts[:, 0].max()
    assert box[1] <= pts[:, 1].min() and box[3] >= pts[:, 1].max()
    inc = next(c for c in cols["collections"] if c["id"] == "incidents")
    start, end = inc["extent"]["temporal"]["interval"][0]
    assert start.startswith("2024-01-0") or start.startswith("2023-12-31")
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_layer"


def test_items_page_through_with_next_links(empty_db, db_settings):
    seed_cameras(empty_db, 25, spread=0.01)
    seen, pages = [], 0
    with client_for(db_settings) as client:
        url = "/ogc/collections/cameras/items?limit=10"
        while url:
            r = client.get(url)
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/geo+json"
            doc = r.json()
            assert doc["type"] == "FeatureCollection"
            assert doc["numberMatched"] == 25
            assert doc["numberReturned"] == len(doc["features"])
            seen += [f["id"] for f in doc["features"]]
            rels = _rels(doc)
            if pages:
                assert "prev" in rels
            url = _path(rels["next"]) if "next" in rels else None
            pages += 1
    assert pages == 3 and seen == sorted(seen) and len(set(seen)) == 25


def test_items_bbox_datetime_and_property_filters_match_sql(empty_db, db_settings):
    seed_cameras(empty_db, 60, spread=0.02)
    seed_incidents(empty_db, 400, spread=0.02)
    bbox = (LON0 + 0.005, LAT0 + 0.005, LON0 + 0.012, LAT0 + 0.015)
    env = "ST_MakeEnvelope({}, {}, {}, {}, 4326)".format(*bbox)
    cases = [
        ("cameras", f"bbox={','.join(map(str, bbox))}", f"ST_Intersects(geom, {env})"),
        ("cameras", "class=B", "class = 'B'"),
        ("cameras", "class=A&status=online&limit=1000", "class = 'A' AND status = 'online'"),
        ("incidents", "datetime=2024-03-01T00:00:00%2B08:00/2024-06-01T00:00:00%2B08:00",
         "occurred_at BETWEEN '2024-03-01 00:00+08' AND '2024-06-01 00:00+08'"),
        ("incidents", "datetime=../2024-02-01T00:00:00Z", "occurred_at <= '2024-02-01 00:00Z'"),
        ("incidents", "datetime=2024-11-01T00:00:00Z/..&category=hazard&source=110",
         "occurred_at >= '2024-11-01 00:00Z' AND category = 'hazard' AND source = '110'"),
        ("incidents", f"bbox={','.join(map(str, bbox))}&category=dispute",
         f"ST_Intersects(geom, {env}) AND category = 'dispute'"),
    ]
    with client_for(db_settings) as client, empty_db.connect() as conn:
        for c, query, where in cases:
            want = set(conn.execute(text(f"SELECT id FROM {c} WHERE {where}")).scalars())
            doc = client.get(f"/ogc/collections/{c}/items?limit=10000&{query}").json()
            assert {f["id"] for f in doc["features"]} == want, query
            assert doc["numberMatched"] == len(want), query


def test_single_item_and_its_geometry(empty_db, db_settings):
    pts = seed_cameras(empty_db, 3, spread=0.01)
    with client_for(db_settings) as client, empty_db.connect() as conn:
        cid, code = conn.execute(text("SELECT id, code FROM cameras ORDER BY id LIMIT 1")).one()
        one = client.get(f"/ogc/collections/cameras/items/{cid}")
        absent = client.get("/ogc/collections/cameras/items/999999")
        huge = client.get("/ogc/collections/cameras/items/99999999999999999999")
        word = client.get("/ogc/collections/cameras/items/abc")
    assert one.status_code == 200 and one.headers["content-type"] == "application/geo+json"
    f = one.json()
    assert f["type"] == "Feature" and f["id"] == cid and f["properties"]["code"] == code
    assert f["geometry"]["coordinates"] == pytest.approx(list(pts[0]), abs=1e-7)
    assert _rels(f)["collection"] == "http://testserver/ogc/collections/cameras"
    for r in (absent, huge, word):
        assert r.status_code == 404 and r.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("/ogc/collections/cameras/items?colour=red", "unknown parameter(s) colour"),
        ("/ogc/collections/cameras/items?fov=wide", "fov='wide' is not a valid number"),
        ("/ogc/collections/cameras/items?limit=0", "limit=0 is outside 1..10000"),
        ("/ogc/collections/cameras/items?offset=-5", "offset=-5"),
        ("/ogc/collections/cameras/items?bbox=1,2,3", "bbox must be four numbers"),
        ("/ogc/collections/cameras/items?bbox=10,50,0,60", "antimeridian"),
        ("/ogc/collections/roads/items?datetime=2024-01-01T00:00:00Z", "no time property"),
        ("/ogc/collections/incidents/items?datetime=2024-05-01Z/2024-04-01Z", "start is after"),
        ("/ogc/collections/incidents/items?datetime=May/..", "'May' is not an ISO 8601 (RFC 3339)"),
        ("/ogc/collections/grids/items?households=300", "cannot be filtered"),
        ("/ogc/collections/cameras/items?bbox-crs=EPSG:3857&bbox=1,2,3,4", "not supported"),
        ("/ogc/collections/cameras/items?f=html", "f=html"),
    ],
)
def test_bad_items_requests_get_400(db_settings, url, words):
    with client_for(db_settings) as client:
        r = client.get(url)
    assert r.status_code == 400, r.text
    assert words in r.json()["detail"] and r.json()["code"] == "invalid_input"


def test_grids_collection_is_the_active_plan_unless_asked(empty_db, db_settings):
    active = seed_plan_with_grids(empty_db, "active", n=3)
    draft = seed_plan_with_grids(empty_db, "draft", n=5)
    with client_for(db_settings) as client:
        default = client.get("/ogc/collections/grids/items").json()
        other = client.get(f"/ogc/collections/grids/items?plan_id={draft}").json()
    assert {f["properties"]["plan_id"] for f in default["features"]} == {active}
    assert default["numberMatched"] == 3 and other["numberMatched"] == 5
    for f in default["features"]:
        i = int(f["properties"]["code"].split("-")[1])
        assert f["properties"]["households"] == (100 + i) + 7 * i


def test_number_matched_is_estimated_on_large_tables(empty_db, db_settings, monkeypatch):
    seed_cameras(empty_db, 300, spread=0.02)
    with empty_db.begin() as conn:
        conn.execute(text("ANALYZE cameras"))
    monkeypatch.setenv("ONEMAP_OGC_EXACT_COUNT_BELOW", "0")
    with client_for(db_settings) as client:
        whole = client.get("/ogc/collections/cameras/items?limit=100").json()
        some = client.get("/ogc/collections/cameras/items?limit=1000&class=A").json()
    assert whole["numberMatched"] == 300  # reltuples after ANALYZE
    assert "next" in _rels(whole)
    assert 50 <= some["numberMatched"] <= 200 and some["numberReturned"] == 100
    assert "next" not in _rels(some)  # a short page ends the paging


def test_widget_cannot_list_incidents_or_cameras(empty_db, db_settings):
    seed_incidents(empty_db, 10, spread=0.01)
    seed_cameras(empty_db, 3, spread=0.01)
    with role_keys(empty_db, "widget") as hdr, client_for(db_settings) as client:
        inc = client.get("/ogc/collections/incidents/items", headers=hdr["widget"])
        one = client.get("/ogc/collections/incidents/items/1", headers=hdr["widget"])
        cams = client.get("/ogc/collections/cameras/items", headers=hdr["widget"])
        roads = client.get("/ogc/collections/roads/items", headers=hdr["widget"])
    for r in (inc, one, cams):
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert roads.status_code == 200

"""Bad tile requests get a 4xx with a clear message; relative windows share cache keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from test_tiles_support import client_for

from geo.errors import InvalidInput
from tiles.filters import TileFilters


@pytest.fixture(scope="module")
def client(db_settings):
    with client_for(db_settings) as c:
        yield c


@pytest.mark.parametrize(
    ("url", "status", "code", "words"),
    [
        ("/tiles/cameras/25/0/0.pbf", 400, "invalid_input", "zoom z=25 is outside 0..24"),
        ("/tiles/cameras/3/8/0.pbf", 400, "invalid_input", "x=8 is outside 0..7"),
        ("/tiles/cameras/3/0/8.pbf", 400, "invalid_input", "y=8 is outside 0..7"),
        ("/tiles/cameras/3/-1/0.pbf", 400, "invalid_input", "x=-1"),
        ("/tiles/cameras/a/0/0.pbf", 422, "invalid_parameter", "z"),
        ("/tiles/parks/3/0/0.pbf", 404, "unknown_layer", "unknown tile layer 'parks'"),
        ("/tiles/cameras,parks/3/0/0.pbf", 404, "unknown_layer", "parks"),
        ("/tiles/cameras,cameras/3/0/0.pbf", 400, "invalid_input", "distinct"),
        ("/tiles/incidents/3/0/0.pbf?category=fire", 400, "invalid_input",
         "unknown category 'fire'"),
        ("/tiles/incidents/3/0/0.pbf?source=weibo", 400, "invalid_input", "unknown source 'weibo'"),
        ("/tiles/incidents/3/0/0.pbf?from=yesterday", 400, "invalid_input", "from='yesterday'"),
        ("/tiles/incidents/3/0/0.pbf?from=2024-05-01&to=2024-04-01", 400, "invalid_input",
         "must be before"),
        ("/tiles/cameras/3/0/0.pbf?category=hazard", 400, "invalid_input",
         "take no filter category"),
        ("/tiles/cameras/3/0/0.pbf?plan=3", 400, "invalid_input", "take no filter plan"),
        ("/tiles/grids/3/0/0.pbf?plan=x", 422, "invalid_parameter", "plan"),
        ("/tiles/grids/3/0/0.pbf?plan=0", 400, "invalid_input", "plan id"),
        ("/tiles/parks/tilejson.json", 404, "unknown_layer", "parks"),
        ("/tiles/hotspots/tilejson.json?source=x", 400, "invalid_input", "unknown source 'x'"),
    ],
)
def test_bad_tile_requests_get_a_clear_4xx(client, url, status, code, words):
    r = client.get(url)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code
    assert words in body["detail"]


def test_relative_windows_share_an_etag(client):
    url = "/tiles/incidents/12/3391/1597.pbf?from=-P30D&category=hazard"
    first = client.get(url)
    second = client.get(url)
    assert first.status_code == second.status_code == 200
    assert first.headers["etag"] == second.headers["etag"]
    other = client.get("/tiles/incidents/12/3391/1597.pbf?from=-P7D&category=hazard")
    assert other.headers["etag"] != first.headers["etag"]


def test_relative_times_are_quantised_to_the_hour():
    now = datetime(2024, 5, 1, 10, 42, 17, tzinfo=UTC)
    f = TileFilters.parse({"from": "-P30D", "to": "now"}, now=now)
    assert f.time_from == datetime(2024, 4, 1, 10, 0, tzinfo=UTC)
    assert f.time_to == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    later = TileFilters.parse({"from": "-P30D", "to": "now"}, now=now + timedelta(minutes=17))
    assert later.key() == f.key()
    nxt = TileFilters.parse({"from": "-P30D", "to": "now"}, now=now + timedelta(minutes=18))
    assert nxt.key() != f.key()
    hours = TileFilters.parse({"from": "-PT6H"}, now=now)
    assert hours.time_from == datetime(2024, 5, 1, 4, 0, tzinfo=UTC)


def test_naive_times_are_read_in_the_service_zone():
    f = TileFilters.parse({"from": "2024-03-01", "to": "2024-03-02T08:00:00Z"})
    assert f.time_from == datetime(2024, 2, 29, 16, 0, tzinfo=UTC)
    assert f.time_to == datetime(2024, 3, 2, 8, 0, tzinfo=UTC)
    day = TileFilters.parse({"from": "2024-03-01", "to": "2024-03-01"})
    assert day.time_to - day.time_from == timedelta(days=1)  # a date-only "to" holds that day
    with pytest.raises(InvalidInput, match="ISO 8601"):
        TileFilters.parse({"to": "-P"})

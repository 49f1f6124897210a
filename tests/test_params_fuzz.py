"""Property-based fuzz of the shared parameter parsers (``geo.params``) at their extremes.

Whatever text a client sends, each parser either returns a value that satisfies its
contract or raises ``InvalidInput`` — never another exception (which would be a 500),
and never a value PostgreSQL, numpy or Python date arithmetic cannot hold. The tile
filters and OGC items queries, which combine the parsers, are fuzzed the same way.
Vocabularies are spelled out only in ``geo/vocabulary.py``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.ogc.collections import get_collection
from api.ogc.query import ItemsQuery
from geo.errors import InvalidInput
from geo.params import (
    BIGINT_MAX,
    CATEGORIES,
    TIME_MAX,
    TIME_MIN,
    check_text,
    parse_bbox,
    parse_choices,
    parse_id,
    parse_interval,
    parse_res,
    parse_time,
    parse_window,
)
from tiles.filters import TileFilters

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 5, 1, 10, 42, tzinfo=UTC)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

extreme_numbers = st.sampled_from([
    "0", "-0", "1e308", "-1e308", "1e-320", "nan", "inf", "-inf", "180", "-180.0000001",
    "90", "99999999999999999999", "-99999999999999999999", "", " ", "0x10", "1_000",
])
times = st.one_of(
    st.sampled_from(["0001-01-01", "9999-12-31", "9999-12-31T23:59:59.999999999+14:00",
                     "0001-01-01T00:00:00-12:00", "1900-01-01", "2199-12-31", "now", "NOW",
                     "-P99999999D", "-P0D", "-PT99999999999H", "-P36600D", "-P36601D",
                     "-P1W2DT3H4M5S", "2026-02-19T07:01:03.631217872+08:00", "2026-13-45",
                     "2026-02-30", "\x00", "2026-01-01\x00", "Z", "-P", "P1D"]),
    st.text(max_size=40),
    st.datetimes().map(lambda d: d.isoformat()),
)
comma_lists = st.lists(st.one_of(extreme_numbers, st.text(max_size=8)), max_size=7).map(",".join)


def _refused_or(fn, check):
    try:
        value = fn()
    except InvalidInput:
        return
    check(value)


@FUZZ
@given(comma_lists)
def test_bbox(raw):
    def ok(b):
        assert b is None or (-180 <= b[0] < b[2] <= 180 and -90 <= b[1] < b[3] <= 90)
    _refused_or(lambda: parse_bbox(raw, allow_3d=True), ok)


def _in_range(t):
    assert t is None or TIME_MIN <= t.astimezone(UTC) <= TIME_MAX


@FUZZ
@given(times, times, st.sampled_from(["Asia/Shanghai", "UTC", "Pacific/Kiritimati",
                                      "Etc/GMT+12"]))
def test_times_and_windows(a, b, tz):
    _refused_or(lambda: parse_time(a, "from", tz=tz, now=NOW, quantum_s=3600), _in_range)
    _refused_or(lambda: parse_time(a, "to", tz=tz, end=True), _in_range)

    def window_ok(w):
        _in_range(w.t0)
        _in_range(w.t1)
        assert w.t0 is None or w.t1 is None or w.t0 < w.t1
    _refused_or(lambda: parse_window(a, b, tz=tz, now=NOW, quantum_s=60), window_ok)
    _refused_or(lambda: parse_interval(f"{a}/{b}", tz=tz),
                lambda iv: (_in_range(iv[0]), _in_range(iv[1])))


@FUZZ
@given(st.one_of(extreme_numbers, st.text(max_size=25)))
def test_ids_and_resolutions(raw):
    _refused_or(lambda: parse_id(raw, "plan"),
                lambda v: v is None or 0 < v <= BIGINT_MAX)
    _refused_or(lambda: parse_res(raw), lambda v: v is None or 6 <= v <= 12)


@FUZZ
@given(st.one_of(st.text(max_size=30), st.lists(st.text(max_size=10), max_size=4)))
def test_choices_and_text(raw):
    _refused_or(lambda: parse_choices(raw, CATEGORIES, "category"),
                lambda v: set(v) <= set(CATEGORIES))
    if isinstance(raw, str):
        _refused_or(lambda: check_text(raw, "name"),
                    lambda v: "\x00" not in v)


params = st.dictionaries(
    st.sampled_from(["from", "to", "category", "source", "plan", "bbox", "datetime", "limit",
                     "offset", "name", "households", "occurred_at", "status", "x"]),
    st.one_of(times, comma_lists, extreme_numbers, st.text(max_size=12)), max_size=5)


@FUZZ
@given(params)
def test_tile_filters(raw):
    _refused_or(lambda: TileFilters.parse(raw, now=NOW), lambda f: f.key())


@FUZZ
@given(params, st.sampled_from(["incidents", "buildings", "cameras", "grids"]))
def test_ogc_items_queries(raw, name):
    _refused_or(lambda: ItemsQuery.parse(get_collection(name), raw, tz="Asia/Shanghai"),
                lambda q: q.filtered or True)


@pytest.mark.parametrize("literal", [
    r'"dispute",\s*"public_order"', r'"12345",\s*"110"',
])
def test_vocabularies_are_written_once(literal):
    found = [str(p.relative_to(ROOT)) for d in ("api", "geo", "tiles")
             for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".js")
             and p.is_file() and not {"vendor", "node_modules"} & set(p.parts)
             and re.search(literal, p.read_text(errors="ignore"))]
    assert found == ["geo/vocabulary.py"]

"""Hotspot aggregation and service against the real PostGIS: SQL and in-memory
paths agree, every study cell is present (zeros included), caches follow the
data versions, bad parameters and thin windows are refused clearly."""

from __future__ import annotations

import h3
import numpy as np
import pytest
from sqlalchemy import text
from test_hotspots_data import LATE, STEADY_CELL9, load

from geo.errors import InvalidInput, NotEnoughData
from geo.h3cells import SQL_COLUMNS, SQL_PARAMS, cells_of
from geo.hotspots import analyses
from geo.hotspots.aggregate import counts_by_cell
from geo.hotspots.analyses import hotspot_cells
from geo.hotspots.cells import polyfill
from geo.hotspots.params import Filters, emerging_query, hotspot_query
from geo.hotspots.runtime import HotspotService
from geo.hotspots.settings import HotspotSettings
from geo.settings import ServiceAreaSettings

SETTINGS = HotspotSettings(_env_file=None)
AREA = ServiceAreaSettings(_env_file=None)
FILTERS = [
    {},
    {"from_": "2025-03-01", "to": "2025-06-30"},
    {"category": "dispute,hazard"},
    {"source": "110", "from_": "2025-02-01T08:00:00+08:00", "to": "2025-12-01T00:00:00Z"},
]


@pytest.fixture(scope="module")
def loaded(engine):
    n = load(engine)
    return engine, n


@pytest.fixture()
def memory(loaded):
    return HotspotService(loaded[0], SETTINGS, AREA)


@pytest.fixture()
def sql(loaded):
    return HotspotService(loaded[0], HotspotSettings(_env_file=None, memory_rows=0), AREA)


@pytest.mark.parametrize("raw", FILTERS)
def test_memory_and_sql_counts_agree_and_match_sql_count(memory, sql, loaded, raw):
    q = hotspot_query(SETTINGS, **raw)
    a, b = analyses.hotspots(memory, q), analyses.hotspots(sql, q)
    assert memory.state().cols is not None and sql.state().cols is None
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.study.cells, b.study.cells)
    assert np.array_equal(a.z, b.z)
    clauses, params = ["true"], {}
    f = q.filters
    if f.t0:
        clauses.append("occurred_at >= :t0")
        params["t0"] = f.t0
    if f.t1:
        clauses.append("occurred_at < :t1")
        params["t1"] = f.t1
    if f.categories:
        clauses.append("category = ANY(:c)")
        params["c"] = list(f.categories)
    if f.sources:
        clauses.append("source = ANY(:s)")
        params["s"] = list(f.sources)
    with loaded[0].connect() as conn:
        expected = conn.execute(text(f"SELECT count(*) FROM incidents WHERE "
                                     f"{' AND '.join(clauses)}"), params).scalar()
    assert a.counts.sum() == expected == a.parameters["incidents"]


def test_every_cell_of_the_area_is_present_with_zeros(memory, loaded):
    r = analyses.hotspots(memory, hotspot_query(SETTINGS, res=10))
    assert r.parameters["study_area"] == "incident_extent"
    with loaded[0].connect() as conn:
        cells, n = counts_by_cell(conn, 10, Filters())
    assert set(cells.tolist()) <= set(r.study.cells.tolist())
    assert (r.counts == 0).sum() > 100  # the 500 m buffer around the extent is empty
    assert len(r.frame()) == len(r.study) == r.parameters["cells"]


def test_planted_cluster_is_a_99_percent_hot_spot(memory):
    frame = hotspot_cells(memory, hotspot_query(SETTINGS))
    row = frame.set_index("h3").loc[STEADY_CELL9]
    assert row["bin"] == 3 and row["class"] == "hot_99" and row["gi_z"] > 5
    assert list(frame.columns) == ["h3", "count", "gi_z", "p_value", "bin", "class"]


def test_bbox_restricts_the_study_to_cell_centres_inside(memory):
    lat, lon = h3.cell_to_latlng(STEADY_CELL9)
    bbox = (lon - 0.02, lat - 0.015, lon + 0.02, lat + 0.015)
    r = analyses.hotspots(memory, hotspot_query(SETTINGS, bbox=",".join(map(str, bbox))))
    ll = np.array([h3.cell_to_latlng(c) for c in r.frame()["h3"]])
    assert ((ll[:, 1] >= bbox[0]) & (ll[:, 1] <= bbox[2])).all()
    assert ((ll[:, 0] >= bbox[1]) & (ll[:, 0] <= bbox[3])).all()
    assert r.parameters["bbox"] == list(bbox) and 30 < len(r.study) < 200


def test_emerging_sql_and_memory_agree_and_find_the_late_cluster(memory, sql):
    q = emerging_query(SETTINGS, res=9, step="week", from_="2025-01-01", to="2025-12-31")
    a, b = analyses.emerging(memory, q), analyses.emerging(sql, q)
    assert np.array_equal(a.category, b.category)
    assert np.array_equal(a.trend_z, b.trend_z)
    assert a.parameters["steps"] == 52 and a.parameters["step"] == "week"
    late = h3.latlng_to_cell(LATE.lat, LATE.lon, 9)
    assert a.frame().set_index("h3").loc[late, "category"] in ("new", "consecutive")
    steady = a.frame().set_index("h3").loc[STEADY_CELL9, "category"]
    assert steady == "persistent"


def test_monthly_steps_are_calendar_months(memory):
    r = analyses.emerging(memory, emerging_query(SETTINGS, step="month", from_="2025-01-01",
                                                 to="2025-12-31"))
    assert r.parameters["steps"] == 12
    assert r.parameters["from"].startswith("2025-01-01T00:00:00+08:00")
    assert r.parameters["to"].startswith("2026-01-01T00:00:00+08:00")


@pytest.mark.parametrize("raw, message", [
    ({"res": 5}, "res must be an H3 resolution from 6 to 12"),
    ({"res": 13}, "res must be"),
    ({"k": 4}, "k must be 1, 2 or 3"),
    ({"from_": "2025-06-01", "to": "2025-03-01"}, "must be before"),
    ({"from_": "yesterday"}, "not an ISO 8601"),
    ({"category": "theft"}, "unknown category 'theft'"),
    ({"source": "twitter"}, "unknown source"),
    ({"bbox": "200,0,201,1"}, "bbox out of range"),
    ({"bbox": "1,2,3"}, "bbox must be four numbers"),
    ({"alpha": 0.7}, "alpha must be in (0, 0.2]"),
])
def test_bad_parameters_are_refused_clearly(raw, message):
    with pytest.raises(InvalidInput) as err:
        hotspot_query(SETTINGS, **raw)
    assert message in err.value.detail


def test_empty_and_thin_windows_say_so(memory):
    with pytest.raises(NotEnoughData, match="no incidents match"):
        analyses.hotspots(memory, hotspot_query(SETTINGS, from_="2030-01-01", to="2030-02-01"))
    with pytest.raises(NotEnoughData, match=r"only \d+ incidents .* at least 30"):
        analyses.hotspots(memory, hotspot_query(SETTINGS, from_="2025-03-01T00:00:00Z",
                                                to="2025-03-01T02:00:00Z"))


def test_fast_geojson_bytes_equal_the_dict_form(memory):
    import json

    gi = analyses.hotspots(memory, hotspot_query(SETTINGS, category="dispute"))
    for only in (False, True):
        assert json.loads(gi.geojson_bytes(only)) == json.loads(json.dumps(gi.geojson(only)))
    em = analyses.emerging(memory, emerging_query(SETTINGS, from_="2025-01-01", to="2025-12-31"))
    for only in (False, True):
        assert json.loads(em.geojson_bytes(only)) == json.loads(json.dumps(em.geojson(only)))


def test_bbox_slice_equals_filling_the_clipped_area(memory):
    st = memory.state()
    bbox = (118.02, 36.78, 118.06, 36.81)
    sliced = memory.study(9, bbox, st)
    filled = memory.studies.fill(9, bbox, st, memory.counter(st))
    assert np.array_equal(sliced.cells, filled.cells)
    for k in (1, 2, 3):
        assert (sliced.weights(k) != filled.weights(k)).nnz == 0
    assert sliced.rings() == filled.rings() and sliced.heads() == filled.heads()

def test_results_follow_the_data_version(memory, loaded):
    q = hotspot_query(SETTINGS)
    before = analyses.hotspots(memory, q)
    assert analyses.hotspots(memory, q) is before  # cached
    lat, lon = h3.cell_to_latlng(STEADY_CELL9)
    cell12 = h3.str_to_int(h3.latlng_to_cell(lat, lon, 12))
    with loaded[0].begin() as conn:
        conn.execute(text(
            "INSERT INTO incidents (external_id, source, category, occurred_at, h3, "
            f"{SQL_COLUMNS}, geom) "
            f"VALUES ('extra-1', 'grid', 'hazard', '2025-05-05T10:00:00+08', :h, {SQL_PARAMS}, "
            "ST_SetSRID(ST_Point(:x, :y), 4326))"),
            {"h": cell12, "x": lon, "y": lat, **cells_of(lon, lat)})
    after = analyses.hotspots(memory, q, fresh=True)
    assert after is not before
    assert after.counts.sum() == before.counts.sum() + 1
    assert after.parameters["data_version"] == before.parameters["data_version"] + 1


def test_admin_areas_define_the_study_area(empty_db):
    load(empty_db, n_background=3000)
    square = "POLYGON((118.03 36.79, 118.06 36.79, 118.06 36.815, 118.03 36.815, 118.03 36.79))"
    with empty_db.begin() as conn:
        conn.execute(text(
            "INSERT INTO admin_areas (code, name, level, geom) VALUES "
            "('370303', '张店区', 'district', ST_Multi(ST_GeomFromText(:g, 4326))), "
            "('370303001', 'street', 'street', ST_Multi(ST_GeomFromText(:g, 4326)))"),
            {"g": square})
    svc = HotspotService(empty_db, SETTINGS, AREA)
    r = analyses.hotspots(svc, hotspot_query(SETTINGS))
    assert r.parameters["study_area"] == "admin_areas:district"
    from shapely import wkt

    inside = polyfill(wkt.loads(square), 9)
    assert set(inside.tolist()) <= set(r.study.cells.tolist())
    with empty_db.connect() as conn:
        cells, _ = counts_by_cell(conn, 9, Filters())
    assert set(r.study.cells.tolist()) == set(inside.tolist()) | set(cells.tolist())


def test_no_data_at_all_is_not_enough_data(empty_db):
    svc = HotspotService(empty_db, SETTINGS, AREA)
    with pytest.raises(NotEnoughData, match="no incidents and no admin areas"):
        analyses.hotspots(svc, hotspot_query(SETTINGS))


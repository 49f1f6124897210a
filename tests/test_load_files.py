"""Loading good files: every layer, every format, aliases, mapping, idempotency, rejects."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import text

from geo.coverage.settings import CoverageSettings
from geo.errors import InvalidInput
from geo.io.load import load_file, load_frame
from geo.io.settings import IngestSettings
from geo.settings import ServiceAreaSettings

LOAD = Path(__file__).resolve().parent / "fixtures" / "load"


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.fixture()
def area_db(empty_db):
    """An empty database with the fixture district's admin areas loaded."""
    load_file(empty_db, "admin_areas", LOAD / "admin_areas.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    return empty_db


def test_admin_areas_load_as_multipolygons(empty_db):
    report = load_file(empty_db, "admin_areas", LOAD / "admin_areas.geojson", progress=False,
                       area=ServiceAreaSettings(), settings=IngestSettings())
    assert (report.read, report.inserted, report.rejected) == (3, 3, 0)
    with empty_db.connect() as conn:
        rows = conn.execute(text(
            "SELECT code, level, GeometryType(geom) FROM admin_areas ORDER BY code")).all()
    assert rows[0] == ("370303", "district", "MULTIPOLYGON")
    assert {r[1] for r in rows} == {"district", "community"}


def test_every_layer_loads(area_db):
    for layer, name in [("grids", "grids.geojson"), ("buildings", "buildings.geojson"),
                        ("cameras", "cameras.csv"), ("incidents", "incidents.csv"),
                        ("roads", "roads.geojson"), ("places", "places.geojson")]:
        report = load_file(area_db, layer, LOAD / name, progress=False,
                           area=ServiceAreaSettings(), settings=IngestSettings())
        assert report.rejected == 0, report.messages
        assert report.inserted == report.read == count(area_db, layer), layer


def test_camera_aliases_become_canonical(area_db):
    load_file(area_db, "cameras", LOAD / "cameras.csv", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    with area_db.connect() as conn:
        rows = dict(conn.execute(text("SELECT code, class FROM cameras")).all())
        kinds = {k for (k,) in conn.execute(text("SELECT DISTINCT kind FROM cameras"))}
    source = pd.read_csv(LOAD / "cameras.csv", dtype=str)
    expected = {"一类": "A", "二类": "B", "三类": "C", "1": "A", "2": "B", "3": "C",
                "A": "A", "B": "B", "C": "C"}
    for code, cls in zip(source["code"], source["class"], strict=True):
        assert rows[code] == expected[cls]
    assert kinds <= {"bullet", "dome", "ptz", "face", "vehicle"}


def test_incident_times_keep_their_zone(area_db):
    load_file(area_db, "incidents", LOAD / "incidents.csv", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    with area_db.connect() as conn:
        got = dict(conn.execute(text(
            "SELECT external_id, extract(epoch FROM occurred_at)::bigint FROM incidents")).all())
    # E00001 has no offset (local time, Asia/Shanghai); E00002 carries +08:00.
    assert got["E00001"] == int(pd.Timestamp("2024-01-01T08:15:00+08:00").timestamp())
    assert got["E00002"] == int(pd.Timestamp("2024-02-02T09:07:00+08:00").timestamp())


def test_incidents_get_h3_and_grid(area_db):
    load_file(area_db, "grids", LOAD / "grids.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    load_file(area_db, "incidents", LOAD / "incidents.csv", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    import h3

    with area_db.connect() as conn:
        rows = conn.execute(text(
            "SELECT ST_X(i.geom), ST_Y(i.geom), i.h3, i.grid_id, g.code, "
            "ST_Contains(g.geom, i.geom) FROM incidents i LEFT JOIN grids g ON g.id = i.grid_id"
        )).all()
    assert len(rows) == 40
    for x, y, cell, grid_id, code, inside in rows:
        assert cell == h3.str_to_int(h3.latlng_to_cell(y, x, 12))
        assert grid_id is not None and inside, (x, y, code)


def test_grids_made_after_incidents_still_assign_them(area_db):
    load_file(area_db, "incidents", LOAD / "incidents.csv", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    assert count_null_grids(area_db) == 40
    report = load_file(area_db, "grids", LOAD / "grids.geojson", progress=False,
                       area=ServiceAreaSettings(), settings=IngestSettings())
    assert count_null_grids(area_db) == 0
    assert any("40 incidents assigned" in m for m in report.messages)


def count_null_grids(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM incidents WHERE grid_id IS NULL")).scalar()


def test_grids_create_the_import_plan_and_memberships(area_db):
    load_file(area_db, "buildings", LOAD / "buildings.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    load_file(area_db, "grids", LOAD / "grids.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    with area_db.connect() as conn:
        plans = conn.execute(text("SELECT name, status FROM grid_plans")).all()
        members = conn.execute(text(
            "SELECT b.code, g.code FROM grid_members m JOIN buildings b ON b.id = m.building_id "
            "JOIN grids g ON g.id = m.grid_id ORDER BY b.code")).all()
    assert plans == [("导入网格", "active")]
    # B0001 (118.02, 36.82) is in the north-west grid G001; B0004 (118.07, 36.78) in G004.
    assert dict(members) == {"B0001": "G001", "B0002": "G002", "B0003": "G003",
                             "B0004": "G004", "B0005": "G001", "B0006": "G004"}


def test_buildings_loaded_after_grids_get_members(area_db):
    load_file(area_db, "grids", LOAD / "grids.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    load_file(area_db, "buildings", LOAD / "buildings.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    assert count(area_db, "grid_members") == 6


def test_grid_frame_with_plan_id_targets_that_plan(area_db):
    with area_db.begin() as conn:
        draft = conn.execute(text(
            "INSERT INTO grid_plans (name, status) VALUES ('草案', 'draft') RETURNING id")).scalar()
    frame = gpd.read_file(LOAD / "grids.geojson")
    frame["plan_id"] = draft
    load_frame(area_db, "grids", frame, progress=False, settings=IngestSettings(),
               area=ServiceAreaSettings())
    with area_db.connect() as conn:
        plans = conn.execute(text("SELECT DISTINCT plan_id FROM grids")).scalars().all()
    assert plans == [draft]


def test_loading_the_same_incidents_twice_adds_nothing(area_db):
    first = load_file(area_db, "incidents", LOAD / "incidents.csv", progress=False,
                      area=ServiceAreaSettings(), settings=IngestSettings())
    second = load_file(area_db, "incidents", LOAD / "incidents.csv", progress=False,
                       area=ServiceAreaSettings(), settings=IngestSettings())
    assert (first.inserted, second.inserted, second.skipped) == (40, 0, 40)
    assert count(area_db, "incidents") == 40


def test_bulk_path_is_idempotent_too(area_db):
    from geo.io.load import load_frame
    from geo.io.read import read_frame
    from geo.io.settings import IngestSettings

    def indexes():
        with area_db.connect() as conn:
            return conn.execute(text("SELECT indexname, indexdef FROM pg_indexes "
                                     "WHERE tablename = 'incidents' ORDER BY 1")).all()

    before = indexes()
    bulk = IngestSettings(_env_file=None, bulk_min_rows=1)
    frame = read_frame(LOAD / "incidents.csv")
    # The first load is larger than the (empty) table: secondary indexes are rebuilt.
    first = load_frame(area_db, "incidents", frame, progress=False, settings=bulk,
                       area=ServiceAreaSettings())
    again = load_frame(area_db, "incidents", frame, progress=False, settings=bulk,
                       area=ServiceAreaSettings())
    assert (first.inserted, again.inserted, again.skipped) == (40, 0, 40)
    assert indexes() == before and len(before) >= 7
    with area_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incidents")).scalar() == 40
        near = conn.execute(text(
            "SELECT count(*) FROM incidents "
            "WHERE geom && ST_MakeEnvelope(118, 36.7, 118.1, 36.9, 4326)"
        )).scalar()
    assert near == 40


def test_incidents_without_external_id_are_idempotent(area_db, tmp_path):
    table = pd.read_csv(LOAD / "incidents.csv", dtype=str).drop(columns="external_id")
    path = tmp_path / "noid.csv"
    table.to_csv(path, index=False)
    load_file(area_db, "incidents", path, progress=False, area=ServiceAreaSettings(),
              settings=IngestSettings())
    again = load_file(area_db, "incidents", path, progress=False, area=ServiceAreaSettings(),
                      settings=IngestSettings())
    assert (again.inserted, again.skipped, count(area_db, "incidents")) == (0, 40, 40)
    with area_db.connect() as conn:
        ids = conn.execute(text("SELECT external_id FROM incidents")).scalars().all()
    assert len(set(ids)) == 40 and all(i.startswith("h") for i in ids)


def test_keyless_layers_are_idempotent(area_db):
    load_file(area_db, "roads", LOAD / "roads.geojson", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    again = load_file(area_db, "roads", LOAD / "roads.geojson", progress=False,
                      area=ServiceAreaSettings(), settings=IngestSettings())
    assert (again.inserted, again.skipped, count(area_db, "roads")) == (0, 3, 3)


def test_on_conflict_update_changes_existing_rows(area_db, tmp_path):
    load_file(area_db, "cameras", LOAD / "cameras.csv", progress=False,
              area=ServiceAreaSettings(), settings=IngestSettings())
    table = pd.read_csv(LOAD / "cameras.csv", dtype=str)
    table["status"] = "fault"
    path = tmp_path / "cams.csv"
    table.to_csv(path, index=False)
    skip = load_file(area_db, "cameras", path, progress=False, area=ServiceAreaSettings(),
                     settings=IngestSettings())
    assert (skip.inserted, skip.updated, skip.skipped) == (0, 0, 12)
    upd = load_file(area_db, "cameras", path, on_conflict="update", progress=False,
                    area=ServiceAreaSettings(), settings=IngestSettings())
    assert (upd.inserted, upd.updated) == (0, 12)
    with area_db.connect() as conn:
        statuses = conn.execute(text("SELECT DISTINCT status FROM cameras")).scalars().all()
    assert statuses == ["fault"]


def test_mapping_renames_columns(area_db, tmp_path):
    table = pd.read_csv(LOAD / "cameras.csv", dtype=str).rename(
        columns={"name": "名称", "class": "类别", "lon": "经度", "lat": "纬度"})
    path = tmp_path / "cams.csv"
    table.to_csv(path, index=False)
    report = load_file(area_db, "cameras", path, progress=False,
                       mapping={"名称": "name", "类别": "class"}, area=ServiceAreaSettings(),
                       settings=IngestSettings())
    assert report.inserted == 12
    with area_db.connect() as conn:
        named = conn.execute(text("SELECT count(*) FROM cameras WHERE name LIKE '摄像机%'"))
        assert named.scalar() == 12


def test_reject_file_loads_the_good_rows(area_db, tmp_path):
    rejects = tmp_path / "rejects.csv"
    report = load_file(area_db, "cameras", LOAD / "bad" / "swapped.csv", reject_file=rejects,
                       progress=False, area=ServiceAreaSettings(), settings=IngestSettings())
    assert (report.inserted, report.rejected) == (2, 1)
    back = pd.read_csv(rejects, dtype=str)
    assert list(back.columns) == [*pd.read_csv(LOAD / "bad" / "swapped.csv").columns, "reason"]
    assert back["code"].tolist() == ["37030300001320000103"]
    assert back["reason"][0].startswith("row 2: lat/lon swapped?")
    assert "rejected 1" in report.summary()


def test_reject_file_in_the_input_format(area_db, tmp_path):
    rejects = tmp_path / "rejects.geojson"
    report = load_file(area_db, "grids", LOAD / "bad" / "invalid_polygon.geojson",
                       reject_file=rejects, progress=False, area=ServiceAreaSettings(),
                       settings=IngestSettings())
    assert (report.inserted, report.rejected) == (1, 1)
    back = gpd.read_file(rejects)
    assert back["code"].tolist() == ["G902"]
    assert "cannot be repaired" in back["reason"][0]


def test_invalid_polygon_is_repaired_and_reported(area_db, tmp_path):
    bowtie = shapely.Polygon([(118.01, 36.77), (118.02, 36.78), (118.02, 36.77), (118.01, 36.78)])
    frame = gpd.GeoDataFrame({"code": ["G777"]}, geometry=[bowtie], crs=4326)
    path = tmp_path / "bowtie.geojson"
    frame.to_file(path)
    report = load_file(area_db, "grids", path, progress=False, area=ServiceAreaSettings(),
                       settings=IngestSettings())
    assert (report.inserted, report.repaired) == (1, 1)
    assert any("repaired invalid polygon (Self-intersection" in m for m in report.messages)
    with area_db.connect() as conn:
        valid, area = conn.execute(text(
            "SELECT ST_IsValid(geom), ST_Area(geom) FROM grids WHERE code = 'G777'")).one()
    assert valid and area == pytest.approx(0.5 * 0.01 * 0.01, rel=1e-9)


def test_allow_outside(area_db):
    with pytest.raises(InvalidInput, match="far outside the service area"):
        load_file(area_db, "cameras", LOAD / "bad" / "outside.csv", progress=False,
                  area=ServiceAreaSettings(), settings=IngestSettings())
    report = load_file(area_db, "cameras", LOAD / "bad" / "outside.csv", allow_outside=True,
                       progress=False, area=ServiceAreaSettings(), settings=IngestSettings())
    assert report.inserted == 2


def test_service_bbox_setting_when_no_admin_areas(empty_db):
    from geo.settings import ServiceAreaSettings

    area = ServiceAreaSettings(_env_file=None, service_bbox=(118.0, 36.7, 118.2, 36.9))
    ok = load_file(empty_db, "cameras", LOAD / "cameras.csv", progress=False, area=area,
                   settings=IngestSettings())
    assert ok.inserted == 12
    with pytest.raises(InvalidInput, match="far outside"):
        load_file(empty_db, "cameras", LOAD / "bad" / "outside.csv", progress=False, area=area,
                  settings=IngestSettings())


def test_waterways_load_through_load_frame(area_db):
    river = shapely.LineString([(118.0, 36.79), (118.05, 36.795), (118.1, 36.80)])
    canal = shapely.Polygon([(118.02, 36.77), (118.03, 36.77), (118.03, 36.771),
                             (118.02, 36.771)])
    frame = gpd.GeoDataFrame({"name": ["孝妇河", "引水渠"], "kind": ["river", None]},
                             geometry=[river, canal], crs=4326)
    report = load_frame(area_db, "waterways", frame, progress=False, settings=IngestSettings(),
                        area=ServiceAreaSettings())
    assert report.inserted == 2
    with area_db.connect() as conn:
        kinds = dict(conn.execute(text("SELECT name, kind FROM waterways")).all())
    assert kinds == {"孝妇河": "river", "引水渠": "river"}


def test_file_loads_refresh_camera_views(area_db):
    """The caller of a load runs the coverage hook (as ``onemap load`` does)."""
    from geo.coverage.hooks import after_report

    ingest, area, coverage = IngestSettings(), ServiceAreaSettings(), CoverageSettings()
    after_report(area_db, load_file(area_db, "buildings", LOAD / "buildings.geojson",
                                    progress=False, area=area, settings=ingest),
                 settings=coverage, area=area)
    report = load_file(area_db, "cameras", LOAD / "cameras.csv", progress=False,
                       area=area, settings=ingest)
    after_report(area_db, report, settings=coverage, area=area)
    assert any(m.startswith("camera views: ") for m in report.messages)
    with area_db.connect() as conn:
        views = conn.execute(text("SELECT count(*) FROM camera_views")).scalar()
    assert views == 12


def test_loaded_grids_carry_their_households(small_demo):
    """The per-grid household figures equal the sum over member buildings after a load."""
    from sqlalchemy import text

    from geo.db.engine import make_engine

    eng = make_engine(small_demo)
    try:
        with eng.connect() as conn:
            rows = conn.execute(text("""
                SELECT g.households, COALESCE(sum(b.households), 0)
                  FROM grids g
                  JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'active'
                  LEFT JOIN grid_members m ON m.grid_id = g.id
                  LEFT JOIN buildings b ON b.id = m.building_id
                 GROUP BY g.id, g.households""")).all()
    finally:
        eng.dispose()
    assert rows and all(cached == summed for cached, summed in rows)
    assert sum(r[0] for r in rows) > 0

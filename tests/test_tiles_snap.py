"""The snapped-footprint shortcut (revision 0006) gives the same tiles as ``ST_AsMVTGeom``.

Building footprints that stay valid once snapped to a zoom's tile grid and lie
inside the buffered tile skip ``ST_AsMVTGeom``; every other footprint still goes
through it. Tiles are decoded with mapbox_vector_tile and compared feature by
feature with the tiles of the same layer rendered without the shortcut.
"""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
import mapbox_vector_tile
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import text

from geo.db.engine import make_engine
from geo.db.urls import libpq_url
from tiles.filters import TileAddress, TileFilters
from tiles.layers import registry
from tiles.render import LayerRenderer, Policy
from tiles.settings import TileSettings

ORIGIN = 20037508.342789244


def _decode(data: bytes) -> dict:
    tile = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
    return {f["id"]: f for f in tile.get("buildings", {}).get("features", [])}


def _render_both(db_settings, tiles: list[tuple[int, int, int]]) -> list[tuple[dict, dict]]:
    """Each tile rendered with the shortcut and without it (ST_AsMVTGeom for every row)."""
    settings = TileSettings(_env_file=None, tile_layers={"buildings": {"minzoom": 12}})
    layer = registry(settings)["buildings"]
    exact = dataclasses.replace(layer, snap_zooms_sql=None)

    async def run():
        pool = await asyncpg.create_pool(libpq_url(db_settings), min_size=1, max_size=2)

        async def get_pool():
            return pool

        renderer = LayerRenderer(settings, get_pool, Policy())
        out = []
        try:
            for z, x, y in tiles:
                at = TileAddress(z, x, y)
                fast = await renderer.render(layer, at, TileFilters(), "full")
                slow = await renderer.render(exact, at, TileFilters(), "full")
                out.append((_decode(fast), _decode(slow)))
        finally:
            await pool.close()
        return out

    return asyncio.run(run())


def _busiest_tiles(engine, z: int, n: int) -> list[tuple[int, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT floor((ST_X(c) + :o) / s)::int AS x, floor((:o - ST_Y(c)) / s)::int AS y
            FROM (SELECT ST_Centroid(geom_3857) AS c, 2 * :o / (1 << :z) AS s FROM buildings) b
            GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT :n"""),
            {"o": ORIGIN, "z": z, "n": n}).all()
    return [(z, x, y) for x, y in rows]


def test_shortcut_tiles_equal_st_asmvtgeom_tiles_on_the_demo(small_demo):
    """Equal geometry from z15 on; below, where the exact path simplifies, within the
    simplification tolerance (the shortcut keeps the snapped outline as it is)."""
    engine = make_engine(small_demo)
    try:
        tiles = [t for z in (12, 13, 14, 15, 16, 18) for t in _busiest_tiles(engine, z, 3)]
        with engine.connect() as conn:
            recorded = conn.execute(text(
                "SELECT count(*) FILTER (WHERE mvt_snap_zooms & (1 << 13) <> 0), count(*) "
                "FROM buildings")).one()
    finally:
        engine.dispose()
    assert recorded[0] > 0.9 * recorded[1]  # most demo footprints qualify at z13
    tolerance = TileSettings(_env_file=None).tile_simplify_units + 1
    compared = {"equal": 0, "near": 0}
    for (z, _, _), (fast, slow) in zip(tiles, _render_both(small_demo, tiles), strict=True):
        assert fast.keys() == slow.keys()
        for fid, feature in fast.items():
            assert feature["properties"] == slow[fid]["properties"]
            a, b = shape(feature["geometry"]), shape(slow[fid]["geometry"])
            assert a.is_valid, (fid, a.wkt)
            if z >= 15:
                assert a.equals(b), (fid, a.wkt, b.wkt)
                compared["equal"] += 1
            else:
                assert a.hausdorff_distance(b) <= tolerance, (fid, a.wkt, b.wkt)
                compared["near"] += 1
    assert compared["equal"] > 100 and compared["near"] > 1000


def test_a_footprint_that_snapping_would_break_takes_the_exact_path(empty_db, db_settings):
    """A slot narrower than one z13 grid unit collapses or self-touches when snapped; its
    z13 bit stays clear, and the z13 tile still carries ST_AsMVTGeom's valid polygon."""
    z = 13
    with empty_db.begin() as conn:
        # A U-shaped footprint whose slot is 0.4 m wide and ends 0.4 m from the far wall
        # (a z13 grid unit is 1.19 Mercator metres), next to a plain 60 m square.
        conn.execute(text("""
            INSERT INTO buildings (code, households, geom) VALUES
            ('SLIVER', 10, ST_Transform(ST_GeomFromText(
                'POLYGON((0 0, 60 0, 60 60, 30.2 60, 30.2 0.4, 29.8 0.4, 29.8 60, 0 60, 0 0))',
                3857) , 4326)),
            ('SQUARE', 20, ST_Transform(ST_Translate(ST_MakeEnvelope(0, 0, 60, 60, 3857),
                200, 0), 4326))"""))
        # Move both to a city-like latitude: translate in 3857.
        conn.execute(text("""
            UPDATE buildings SET geom = ST_Transform(ST_Translate(ST_Transform(geom, 3857),
                13135000, 4418000), 4326)"""))
        bits = dict(conn.execute(text(
            "SELECT code, mvt_snap_zooms FROM buildings")).all())
        c = conn.execute(text(
            "SELECT ST_X(ST_Centroid(geom_3857)), ST_Y(ST_Centroid(geom_3857)) FROM buildings "
            "WHERE code = 'SQUARE'")).one()
    assert bits["SLIVER"] & (1 << z) == 0
    assert bits["SQUARE"] & (1 << z) and bits["SQUARE"] == sum(1 << k for k in range(12, 21))
    size = 2 * ORIGIN / (1 << z)
    tile = (z, int((c[0] + ORIGIN) // size), int((ORIGIN - c[1]) // size))
    ((fast, slow),) = _render_both(db_settings, [tile])
    assert fast.keys() == slow.keys() and len(fast) == 2
    for fid in fast:
        a = shape(fast[fid]["geometry"])
        assert a.equals(shape(slow[fid]["geometry"])) and a.is_valid


@pytest.mark.parametrize("wkt, expected", [
    ("POINT(13135000 4418000)", 0),
    ("POLYGON((13135000 4418000, 13135000.001 4418000, 13135000.001 4418000.001, "
     "13135000 4418000))", 0),
])
def test_points_and_specks_are_never_snapped(empty_db, wkt, expected):
    with empty_db.begin() as conn:
        got = conn.execute(text(
            "SELECT onemap_mvt_snap_zooms(ST_GeomFromText(:w, 3857))"), {"w": wkt}).scalar_one()
    assert got == expected


def test_snapped_rings_are_wound_as_mvt_wants(empty_db):
    """Exterior rings positive by the surveyor's formula in tile coordinates (y down)."""
    with empty_db.begin() as conn:
        wkb = conn.execute(text(
            "SELECT ST_AsBinary(onemap_mvt_snap(ST_MakeEnvelope(13135000, 4418000, 13135100, "
            "4418080, 3857), 16))")).scalar_one()
    ring = shapely.from_wkb(bytes(wkb)).exterior
    xs, ys = ring.xy
    area2 = sum(xs[i] * ys[i + 1] - xs[i + 1] * ys[i] for i in range(len(xs) - 1))
    assert area2 > 0


def test_tile_scale_is_the_one_the_recorded_zooms_were_checked_with(empty_db):
    """The tile statement binds the scale computed in Python; it must be bit-for-bit the
    float8 scale of ``onemap_mvt_snap``, or a checked outline could snap differently."""
    from tiles.sql import SNAP_ZOOMS, snap_values

    with empty_db.connect() as conn:
        for z in SNAP_ZOOMS:
            sql_scale, sql_offset = conn.execute(text(
                "SELECT 4096 * (2::float8 ^ :z) / (2 * 20037508.342789244::float8), "
                "20037508.342789244::float8 * (4096 * (2::float8 ^ :z) "
                "/ (2 * 20037508.342789244::float8))"), {"z": z}).one()
            values = snap_values(z, 0, 0, 4096)
            assert (values["scale"], values["offset"]) == (sql_scale, sql_offset)
            assert values["snap_bit"] == 1 << z
    assert snap_values(11, 0, 0, 4096)["snap_bit"] == 0
    assert snap_values(14, 0, 0, 512)["snap_bit"] == 0

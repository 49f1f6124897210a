"""Helpers for the tiles and OGC tests: tile maths, seeded rows, app builders.

No tests here; the other ``test_tiles_*`` / ``test_ogc_*`` modules import it.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import mapbox_vector_tile
import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo import keys
from geo.h3cells import SQL_COLUMNS, SQL_PARAMS, cells_of
from geo.settings import DatabaseSettings

LON0, LAT0 = 118.05, 36.80
CATEGORIES = ("dispute", "public_order", "hazard", "livelihood", "city_management", "other")
SOURCES = ("12345", "110", "grid", "petition", "other")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """XYZ tile holding a lon/lat."""
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    lat_r = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(lat_r)) / math.pi) / 2.0 * n)
    return x, y


def tile_lonlat(z: int, x: float, y: float) -> tuple[float, float]:
    """lon/lat of a (fractional) tile corner."""
    n = 1 << z
    lon = x / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    return lon, lat


def decode(content: bytes) -> dict:
    """Decode an MVT with mapbox_vector_tile (y down, as in the tile)."""
    return mapbox_vector_tile.decode(content, default_options={"y_coord_down": True})


def features(content: bytes, layer: str) -> list[dict]:
    """Features of one layer of a tile ([] when the layer is absent)."""
    return decode(content).get(layer, {}).get("features", [])


def seed_cameras(engine: Engine, n: int, seed: int = 1, spread: float = 0.02) -> np.ndarray:
    """``n`` cameras scattered east/north of (LON0, LAT0); returns their lon/lat."""
    rng = np.random.default_rng(seed)
    pts = np.column_stack([LON0 + rng.random(n) * spread, LAT0 + rng.random(n) * spread])
    rows = [
        {"code": f"{37030300001320000000 + i:020d}", "name": f"cam{i}", "cls": "ABC"[i % 3],
         "lon": float(x), "lat": float(y)}
        for i, (x, y) in enumerate(pts)
    ]
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO cameras (code, name, class, geom) "
            "VALUES (:code, :name, :cls, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
        ), rows)
    return pts


def seed_incidents(engine: Engine, n: int, seed: int = 2, spread: float = 0.02,
                   lon0: float = LON0, lat0: float = LAT0) -> None:
    """``n`` incidents over 2024 with rotating categories and sources."""
    import h3

    rng = np.random.default_rng(seed)
    lon = lon0 + rng.random(n) * spread
    lat = lat0 + rng.random(n) * spread
    day = rng.integers(0, 366, n)
    rows = [
        {"eid": f"t{seed}-{i}", "src": SOURCES[i % 5], "cat": CATEGORIES[i % 6],
         "day": int(day[i]),
         "h3": h3.str_to_int(h3.latlng_to_cell(float(lat[i]), float(lon[i]), 12)),
         "lon": float(lon[i]), "lat": float(lat[i]), **cells_of(float(lon[i]), float(lat[i]))}
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO incidents (external_id, source, category, occurred_at, h3, "
            f"{SQL_COLUMNS}, geom) "
            "VALUES (:eid, :src, :cat, "
            "timestamptz '2024-01-01 00:00:00+08' + :day * interval '1 day', "
            f":h3, {SQL_PARAMS}, "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
        ), rows)


def square(lon: float, lat: float, d: float) -> str:
    """WKT of an axis-aligned square (MultiPolygon)."""
    return (f"MULTIPOLYGON((({lon} {lat},{lon + d} {lat},{lon + d} {lat + d},"
            f"{lon} {lat + d},{lon} {lat})))")


def seed_plan_with_grids(engine: Engine, status: str, n: int = 4, name: str = "p") -> int:
    """A plan with ``n`` square grids in a row, each holding two buildings."""
    with engine.begin() as conn:
        plan = conn.execute(text(
            "INSERT INTO grid_plans (name, status) VALUES (:n, :s) RETURNING id"
        ), {"n": name, "s": status}).scalar_one()
        for i in range(n):
            lon = LON0 + i * 0.004
            gid = conn.execute(text(
                "INSERT INTO grids (plan_id, code, name, community_code, worker, geom) "
                "VALUES (:p, :c, :nm, 'C1', 'w', ST_GeomFromText(:g, 4326)) RETURNING id"
            ), {"p": plan, "c": f"G{plan}-{i:02d}", "nm": f"grid {i}",
                "g": square(lon, LAT0, 0.004)}).scalar_one()
            for j, hh in enumerate((100 + i, 7 * i)):
                bid = conn.execute(text(
                    "INSERT INTO buildings (code, households, geom) VALUES "
                    "(:c, :h, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"
                ), {"c": f"B{plan}-{i}-{j}", "h": hh, "x": lon + 0.001 * (j + 1),
                    "y": LAT0 + 0.002}).scalar_one()
                conn.execute(text(
                    "INSERT INTO grid_members (plan_id, building_id, grid_id) VALUES (:p, :b, :g)"
                ), {"p": plan, "b": bid, "g": gid})
    return plan


def build_app(db: DatabaseSettings, **api):
    """A fresh app on the test database (open local mode unless keys exist)."""
    state = AppState.build(api=ApiSettings(_env_file=None, **api), db=db)
    return create_app(state)


@contextmanager
def client_for(db: DatabaseSettings, **api):
    """A TestClient (lifespan running) on a fresh app."""
    with TestClient(build_app(db, **api)) as client:
        yield client


@contextmanager
def role_keys(engine: Engine, *roles: str):
    """API keys for ``roles`` (Authorization headers), deleted afterwards."""
    made = {}
    try:
        for role in roles:
            key, token = keys.create_key(engine, role, name=f"tiles-test-{role}")
            made[role] = (key, {"Authorization": f"Bearer {token}"})
        yield {role: hdr for role, (_, hdr) in made.items()}
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM api_keys WHERE name LIKE 'tiles-test-%'"))

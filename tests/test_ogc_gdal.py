"""GDAL (Debian's gdal-bin) reads our OGC API and our tiles from a real uvicorn server;
a client that goes away cancels its tile query."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import text
from test_tiles_support import LAT0, LON0, seed_cameras, square, tile_of

from geo.db.urls import libpq_url

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(db_settings):
    """A uvicorn process serving the app on the session database."""
    port = _free_port()
    env = dict(os.environ, ONEMAP_DATABASE_URL=db_settings.database_url, ONEMAP_API_PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.asgi:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"uvicorn did not become ready: {proc.stdout.read().decode()[-2000:]}")
        time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def _gdal(*args: str) -> str:
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, CPL_DEBUG="OFF"))
    assert out.returncode == 0, f"{args[0]} failed: {out.stderr[-2000:]}"
    return out.stdout


def _seed_grids(engine, n: int) -> None:
    with engine.begin() as conn:
        plan = conn.execute(text(
            "INSERT INTO grid_plans (name, status) VALUES ('gdal', 'active') RETURNING id"
        )).scalar_one()
        conn.execute(text(
            "INSERT INTO grids (plan_id, code, name, community_code, geom) "
            "SELECT :p, 'G' || lpad(i::text, 4, '0'), '网格 ' || i, 'C' || (i / 50), "
            "ST_GeomFromText(:sq, 4326) "
            "FROM generate_series(0, :n - 1) AS i"
        ), {"p": plan, "n": n, "sq": square(LON0, LAT0, 0.001)})
        conn.execute(text(
            "UPDATE grids SET geom = ST_Translate(geom, (substr(code, 2)::int % 20) * 0.001, "
            "(substr(code, 2)::int / 20) * 0.001)"))


def test_gdal_lists_collections_and_reads_every_grid(empty_db, server, tmp_path):
    _seed_grids(empty_db, 237)
    listing = _gdal("ogrinfo", "-ro", "-q", f"OAPIF:{server}/ogc")
    for name in ("admin_areas", "grids", "buildings", "cameras", "camera_views", "incidents",
                 "roads", "places", "coverage_gaps", "posts", "response_areas"):
        assert name in listing
    summary = _gdal("ogrinfo", "-ro", "-al", "-so", f"OAPIF:{server}/ogc", "grids")
    assert "Feature Count: 237" in summary
    out = tmp_path / "grids.geojson"
    _gdal("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{server}/ogc", "grids")
    doc = json.loads(out.read_text())
    with empty_db.connect() as conn:
        codes = set(conn.execute(text("SELECT code FROM grids")).scalars())
        names = dict(conn.execute(text("SELECT code, name FROM grids")).all())
    assert len(doc["features"]) == len(codes) == 237
    assert {f["properties"]["code"] for f in doc["features"]} == codes
    assert all(f["properties"]["name"] == names[f["properties"]["code"]] for f in doc["features"])


def test_gdal_mvt_driver_reads_a_tile(empty_db, server, tmp_path):
    seed_cameras(empty_db, 40, spread=0.004)
    z = 16
    x, y = tile_of(LON0 + 0.002, LAT0 + 0.002, z)
    r = httpx.get(f"{server}/tiles/cameras/{z}/{x}/{y}.pbf", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    path = tmp_path / str(z) / str(x) / f"{y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(r.content)
    info = _gdal("ogrinfo", "-ro", "-al", "-so", f"MVT:{path}")
    assert "Layer name: cameras" in info
    with empty_db.connect() as conn:
        inside = conn.execute(text(
            "SELECT count(*) FROM cameras WHERE geom_3857 && ST_TileEnvelope(:z, :x, :y)"
        ), {"z": z, "x": x, "y": y}).scalar()
    count = int(info.split("Feature Count: ")[1].split()[0])
    assert count >= inside > 0  # the buffer may add neighbours
    live = _gdal("ogrinfo", "-ro", "-al", "-so",
                 f"MVT:/vsicurl/{server}/tiles/cameras/{z}/{x}/{y}.pbf")
    assert f"Feature Count: {count}" in live


def test_client_going_away_cancels_the_tile_query(empty_db, server, db_settings):
    seed_cameras(empty_db, 10, spread=0.004)
    x, y = tile_of(LON0 + 0.002, LAT0 + 0.002, 15)
    sql = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'onemap-tiles' "
           "AND state = 'active' AND query LIKE '%ST_AsMVT%' AND datname = current_database()")
    url = libpq_url(db_settings)
    outcome: list = []

    def impatient_client():
        try:
            httpx.get(f"{server}/tiles/cameras/15/{x}/{y}.pbf", timeout=1.5)
        except httpx.ReadTimeout as exc:
            outcome.append(exc)

    with psycopg.connect(url) as locker, psycopg.connect(url, autocommit=True) as watcher:
        locker.execute("LOCK TABLE cameras IN ACCESS EXCLUSIVE MODE")
        client = threading.Thread(target=impatient_client)
        client.start()
        seen = 0
        deadline = time.monotonic() + 1.2
        while not seen and time.monotonic() < deadline:
            seen = watcher.execute(sql).fetchone()[0]
            time.sleep(0.02)
        client.join()
        t_left = time.monotonic()
        while watcher.execute(sql).fetchone()[0] and time.monotonic() < t_left + 5:
            time.sleep(0.02)
        gone_after = time.monotonic() - t_left
        left = watcher.execute(sql).fetchone()[0]
        locker.rollback()
    assert outcome, "the request should have timed out on the client side"
    assert seen == 1, "the tile query never showed up while the client waited"
    assert left == 0 and gone_after < 2, "the tile query kept running after its client left"

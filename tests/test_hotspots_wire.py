"""How hotspot answers travel (issue 3, speed): content negotiation (zstd, br, gzip,
plain) giving the same FeatureCollection, zstd frames within RFC 9659's window, and
the warm-up that loads the default resolution's data at app start without holding
start up or failing it on an empty database."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import orjson
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from test_hotspots_data import load

from api.app import create_app
from api.codings import negotiate
from api.settings import ApiSettings
from api.state import AppState
from geo.hotspots import analyses
from geo.hotspots.params import hotspot_query
from geo.hotspots.runtime import HotspotService
from geo.hotspots.settings import HotspotSettings
from geo.hotspots.warmup import start_warm_up, warm_up
from geo.settings import ServiceAreaSettings

SETTINGS = HotspotSettings(_env_file=None)
AREA = ServiceAreaSettings(_env_file=None)
PARAMS = {"res": 9, "category": "dispute,hazard", "from": "2025-02-01"}


@pytest.fixture(scope="module")
def loaded(engine):
    load(engine)
    return engine


@pytest.fixture(scope="module")
def client(loaded, db_settings):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        yield c


def decode(r) -> bytes:
    """The body as a browser decodes it (httpx itself decodes gzip only)."""
    coding = r.headers.get("content-encoding")
    if coding in ("zstd", "br"):
        name = {"zstd": "zstd", "br": "brotli"}[coding]
        return pa.CompressedInputStream(pa.BufferReader(r.content), name).read()
    return r.content


@pytest.mark.parametrize(("accept", "chosen"), [
    ("gzip, deflate, br, zstd", "zstd"),
    ("gzip, deflate, br", "br"),
    ("gzip, deflate", "gzip"),
    ("br;q=0.5, gzip;q=1.0", "br"),  # acceptable codings: the server's preference decides
    ("zstd;q=0, gzip", "gzip"),
    ("*", "zstd"),
    ("*, zstd;q=0, br;q=0", "gzip"),
    ("GZIP", "gzip"),
    ("gzip;q=0", None),
    ("deflate", None),
    ("identity", None),
    ("", None),
    ("zstd;q=oops, gzip", "gzip"),
])
def test_negotiation_follows_accept_encoding(accept, chosen):
    assert negotiate(accept) == chosen


def test_every_coding_carries_the_same_feature_collection(client):
    plain = client.get("/api/v1/hotspots", params=PARAMS, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    fc = orjson.loads(plain.content)
    assert fc["parameters"]["cells"] == len(fc["features"]) > 100
    for accept, coding in (("gzip, deflate, br, zstd", "zstd"), ("gzip, deflate, br", "br"),
                           ("gzip, deflate", "gzip")):
        r = client.get("/api/v1/hotspots", params=PARAMS, headers={"Accept-Encoding": accept})
        assert r.status_code == 200
        assert r.headers["content-encoding"] == coding
        assert r.headers["vary"] == "Accept-Encoding"
        assert r.headers["content-type"] == "application/json"
        assert decode(r) == plain.content, coding
        if coding != "gzip":  # smaller on the wire than gzip at the same speed class
            assert int(r.headers["content-length"]) < len(plain.content) / 4


def test_other_answers_are_negotiated_too(client):
    for path, params in (("/api/v1/hotspots/emerging", {"res": 9, "from": "2025-01-01",
                                                        "to": "2025-12-31"}),
                         ("/api/v1/hotspots/backtest", {"res": 9, "train_from": "2025-01-01",
                                                        "train_to": "2025-06-30",
                                                        "test_from": "2025-07-01",
                                                        "test_to": "2025-12-31"}),
                         ("/api/v1/heatmap", {"res": 9})):
        plain = client.get(path, params=params, headers={"Accept-Encoding": "identity"})
        zstd = client.get(path, params=params, headers={"Accept-Encoding": "zstd"})
        assert plain.status_code == zstd.status_code == 200, path
        assert zstd.headers["content-encoding"] == "zstd"
        assert decode(zstd) == plain.content, path


def test_zstd_frames_keep_within_the_8_mib_window_of_rfc_9659(client):
    r = client.get("/api/v1/hotspots", params={"res": 10}, headers={"Accept-Encoding": "zstd"})
    frame = r.content
    assert frame[:4] == b"\x28\xb5\x2f\xfd"
    descriptor = frame[4]
    if descriptor & 0x20:  # single segment: the window is the content size
        window = len(decode(r))
    else:
        exponent, mantissa = frame[5] >> 3, frame[5] & 7
        base = 1 << (10 + exponent)
        window = base + base // 8 * mantissa
    assert window <= 8 * 2**20
    assert len(decode(r)) > 2**20  # a body big enough to need a window at all


def test_sent_bodies_are_kept_per_coding(loaded):
    svc = HotspotService(loaded, SETTINGS, AREA)
    result = analyses.hotspots(svc, hotspot_query(SETTINGS, source="110"))
    made = []

    def make():
        made.append(1)
        return result.geojson_bytes()

    zstd = result.encoded("fc", make, "zstd")
    assert result.encoded("fc", make, "zstd") is zstd and len(made) == 1
    plain = result.encoded("fc", make)
    assert len(made) == 2 and len(zstd) < len(plain) / 4
    assert pa.Codec("zstd").decompress(zstd, decompressed_size=len(plain), asbytes=True) == plain


def test_warm_up_loads_the_default_study_before_any_request(loaded):
    svc = HotspotService(loaded, SETTINGS, AREA)
    thread = start_warm_up(svc).thread
    thread.join(60)
    assert not thread.is_alive()
    studies, loads = svc.studies.studies.computed, svc.snapshots.loads.computed
    assert loads == 1 and studies == 1
    t = time.perf_counter()
    r = analyses.hotspots(svc, hotspot_query(SETTINGS, category="dispute"))
    assert time.perf_counter() - t < 5
    # nothing reloaded
    assert (svc.studies.studies.computed, svc.snapshots.loads.computed) == (studies, loads)
    assert len(r.study) == r.parameters["cells"] and r.study.res == SETTINGS.res


def test_warm_up_can_be_turned_off(loaded):
    svc = HotspotService(loaded, HotspotSettings(_env_file=None, warm_up=False), AREA)
    assert start_warm_up(svc).thread is None
    assert svc.snapshots.loads.computed == 0


def test_a_stopped_warm_up_ends_after_its_step(loaded):
    svc = HotspotService(loaded, SETTINGS, AREA)
    stop = threading.Event()
    stop.set()
    assert warm_up(svc, stop=stop) is None
    # only the first step ran
    assert svc.snapshots.loads.computed == 1 and svc.studies.studies.computed == 0


def test_app_start_warms_up_in_the_background(loaded, db_settings):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        svc = app.state.onemap.hotspots
        deadline = time.monotonic() + 60
        while svc.snapshots.columns is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # no hotspot request
        assert svc.snapshots.columns is not None and len(svc.snapshots.columns) > 10_000
    # Shutdown waits for the warm-up: no thread outlives the app.
    assert not [t for t in threading.enumerate() if t.name == "onemap-hotspot-warm-up"]


def test_a_bbox_study_places_incidents_through_its_parent(loaded):
    svc = HotspotService(loaded, SETTINGS, AREA)
    st = svc.state()
    sub = svc.study(9, (118.02, 36.78, 118.06, 36.81), st)
    assert sub.parent is not None
    direct = st.cols.cell_index(9, sub.cells)
    assert np.array_equal(svc.index.rows(st.cols, sub), direct)


# Last: it empties the database the module loaded.
def test_app_starts_on_an_empty_database_and_warm_up_only_logs(empty_db, db_settings, caplog):
    caplog.set_level(logging.INFO, logger="geo.hotspots.warmup")
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=db_settings))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        deadline = time.monotonic() + 30
        while "warm-up skipped" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        r = c.get("/api/v1/hotspots")
    assert "hotspot warm-up skipped: there are no incidents" in caplog.text
    assert r.status_code == 422 and r.json()["code"]

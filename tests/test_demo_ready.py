"""Loading the demo leaves every derived table ready: the first map shows coverage.

Issue 13 point 16: ``onemap demo`` loaded cameras but computed no camera view, so the
page said 全域覆盖率 0.0 % until someone ran ``onemap coverage refresh``.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from api.state import AppState
from geo.coverage.gapstore import gaps_stale
from geo.db.engine import make_engine


def test_every_online_camera_has_a_view_right_after_loading(small_demo):
    engine = make_engine(small_demo)
    try:
        with engine.connect() as conn:
            online, with_view, without_view = conn.execute(text(
                "SELECT count(*), count(v.camera_id), count(*) - count(v.camera_id) "
                "FROM cameras AS c LEFT JOIN camera_views AS v ON v.camera_id = c.id "
                "WHERE c.status = 'online'")).one()
            gaps = conn.execute(text("SELECT count(*) FROM coverage_gaps")).scalar()
            stale = gaps_stale(conn)
    finally:
        engine.dispose()
    assert online > 100
    assert without_view == 0 and with_view == online
    assert gaps > 0, "the demo's planted gaps are not stored"
    assert not stale, "stored gaps are older than the layers: the first request recomputes"


def test_the_maps_coverage_figure_is_not_zero(small_demo):
    app = create_app(AppState.build(api=ApiSettings(_env_file=None), db=small_demo))
    with TestClient(app) as client:
        r = client.get("/api/v1/coverage/summary", params={"level": "city"})  # what the page asks
        assert r.status_code == 200, r.text
        (city,) = r.json()["units"]
        assert 0.05 < city["area_share"] < 1, city
        assert city["road_share"] > 0 and city["incident_share"] > 0, city
        gaps = client.get("/api/v1/coverage/gaps", params={"limit": 5})
        assert gaps.status_code == 200 and gaps.json()["features"], gaps.text

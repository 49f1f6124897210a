"""Acceptance on the demo cities: z equal to esda and BH bins equal to an independent
BH on the ``small`` demo; the planted clusters of the ``city`` demo come out as 99 %
hot cells and their emerging categories are recovered."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from scipy import stats
from test_hotspots_stats import esda_z

from geo.db.engine import make_engine
from geo.hotspots import analyses
from geo.hotspots.params import emerging_query, hotspot_query
from geo.hotspots.runtime import HotspotService
from geo.hotspots.settings import HotspotSettings
from geo.settings import ServiceAreaSettings

SETTINGS = HotspotSettings(_env_file=None)
TARGET_RECOVERY = 0.9


def window(truth: dict) -> tuple[datetime, datetime]:
    """The demo's period as aware datetimes (end exclusive)."""
    tz = ZoneInfo(truth["period"]["timezone"])
    start, end = (datetime.combine(date.fromisoformat(truth["period"][k]), time(), tz)
                  for k in ("start", "end"))
    return start, end


def service(settings):
    engine = make_engine(settings)
    return engine, HotspotService(engine, SETTINGS, ServiceAreaSettings(_env_file=None))


@pytest.fixture(scope="module")
def small(small_demo):
    engine, svc = service(small_demo)
    yield svc
    engine.dispose()


@pytest.mark.parametrize("k", [1, 2, 3])
def test_small_demo_z_equals_esda_and_bins_equal_bh(small, small_demo_truth, k):
    t0, t1 = window(small_demo_truth)
    r = analyses.hotspots(small, hotspot_query(SETTINGS, k=k, from_=t0, to=t1))
    assert r.parameters["study_area"] == "admin_areas:district"
    assert r.parameters["cells"] >= small_demo_truth["hotspots"]["service_cells"]
    assert np.max(np.abs(r.z - esda_z(r.counts, r.study.cells, k))) < 1e-9
    adjusted = stats.false_discovery_control(r.p, method="bh")
    expected = np.sign(r.z) * np.select(
        [adjusted <= 0.01, adjusted <= 0.05, adjusted <= 0.10], [3, 2, 1], 0)
    assert np.array_equal(r.bins, expected)
    assert (r.bins == 3).sum() >= 3


def classify_planted(svc: HotspotService, truth: dict) -> tuple[list, list]:
    """(hot-99 check per non-new cluster, emerging category per cluster)."""
    t0, t1 = window(truth)
    gi = analyses.hotspots(svc, hotspot_query(SETTINGS, res=9, k=1, from_=t0, to=t1)).frame()
    em = analyses.emerging(svc, emerging_query(SETTINGS, res=9, k=1, step="week",
                                               from_=t0, to=t1))
    assert em.parameters["steps"] == truth["period"]["steps"]
    gi, cat = gi.set_index("h3"), em.frame().set_index("h3")["category"]
    clusters = truth["hotspots"]["clusters"]
    hot = [(c["id"], gi.loc[c["h3_res9"], "class"]) for c in clusters if c["hot_whole_period"]]
    emerging = [(c["id"], c["pattern"], cat.loc[c["h3_res9"]]) for c in clusters]
    return hot, emerging


def test_small_demo_planted_clusters(small, small_demo_truth):
    hot, emerging = classify_planted(small, small_demo_truth)
    assert all(cls == "hot_99" for _, cls in hot), hot
    assert all(p == got for _, p, got in emerging), emerging


@pytest.mark.slow
def test_city_demo_planted_clusters_are_hot_99_and_their_trends_recovered(city_demo,
                                                                          city_demo_truth):
    engine, svc = service(city_demo)
    try:
        hot, emerging = classify_planted(svc, city_demo_truth)
    finally:
        engine.dispose()
    assert len(hot) >= 6 and all(cls == "hot_99" for _, cls in hot), hot
    recovered = sum(p == got for _, p, got in emerging) / len(emerging)
    print(f"emerging categories recovered: {recovered:.0%} of {len(emerging)} planted clusters "
          f"{emerging}")
    assert {p for _, p, _ in emerging} == {"new", "intensifying", "persistent", "diminishing"}
    assert recovered >= TARGET_RECOVERY, emerging

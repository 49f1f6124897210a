"""Hotspot statistics against independent references: esda's Gi* on the cholera
deaths of John Snow's Soho (shipped in libpysal's wheel), textbook
Benjamini–Hochberg, a naive Mann–Kendall, hand-made emerging patterns, the
quartic kernel and the backtest formulas."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import esda
import geopandas as gpd
import h3
import libpysal
import numpy as np
import pytest
from scipy import sparse, stats

from geo.errors import InvalidInput, NotEnoughData
from geo.hotspots.backtest import Backtest
from geo.hotspots.cells import kring_weights, parents, polyfill
from geo.hotspots.emerging import EmergingHotspots, classify, space_time_weights
from geo.hotspots.fdr import bh_reject, class_labels, fdr_bins
from geo.hotspots.gistar import GiStar, gi_star_z, two_sided_p
from geo.hotspots.heatmap import QuarticKDE, default_bandwidth, res_for_bandwidth
from geo.hotspots.study import extent_area, study_cells
from geo.hotspots.trend import MannKendall

SOHO = Path(libpysal.__file__).parent / "examples" / "snow_maps" / "SohoPeople.shp"


def esda_z(counts: np.ndarray, cells: np.ndarray, k: int) -> np.ndarray:
    """esda's Gi* z with a libpysal W built from h3's own grid_disk (string API)."""
    ids = [h3.int_to_str(int(c)) for c in cells]
    where = {c: i for i, c in enumerate(ids)}
    neighbours = {i: [where[n] for n in h3.grid_disk(c, k) if n in where and n != c]
                  for i, c in enumerate(ids)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.W(neighbours, silence_warnings=True)
        g = esda.G_Local(counts.astype(float), w, transform="B", star=True, permutations=0)
    return np.asarray(g.Zs)


@pytest.fixture(scope="module")
def soho():
    """Deaths per H3 cell over the Soho study area (zeros included), per resolution."""
    people = gpd.read_file(SOHO).to_crs(4326)
    out = {}
    for res in (11, 12):
        point_cells = np.array([h3.str_to_int(h3.latlng_to_cell(p.y, p.x, res))
                                for p in people.geometry], dtype=np.int64)
        extent = tuple(people.total_bounds)
        cells = study_cells(extent_area(extent, 60.0), res, np.unique(point_cells), None)
        rows = np.searchsorted(cells, point_cells)
        counts = np.bincount(rows, weights=people["Count"].to_numpy(), minlength=len(cells))
        out[res] = (cells, counts)
    return out


@pytest.mark.parametrize("res", [11, 12])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_gi_star_equals_esda_on_soho_cholera_deaths(soho, res, k):
    cells, counts = soho[res]
    assert counts.sum() == 392  # the Count column of SohoPeople.shp
    assert (counts == 0).mean() > 0.5  # the empty cells are part of the study
    ours = GiStar().fit(counts, kring_weights(cells, k)).z_
    ref = esda_z(counts, cells, k)
    assert np.max(np.abs(ours - ref)) < 1e-9
    assert ours.max() > 5  # the Broad Street pump cluster is there


def textbook_bh(p: np.ndarray, q: float) -> np.ndarray:
    order = np.argsort(p, kind="stable")
    m = len(p)
    last = -1
    for rank, i in enumerate(order, start=1):
        if p[i] <= q * rank / m:
            last = rank
    reject = np.zeros(m, dtype=bool)
    reject[order[:last] if last > 0 else []] = True
    return reject


def test_fdr_bins_equal_independent_bh_on_soho(soho):
    cells, counts = soho[12]
    gi = GiStar(alpha=0.05).fit(counts, kring_weights(cells, 1))
    adjusted = stats.false_discovery_control(gi.p_, method="bh")
    expected = np.sign(gi.z_) * np.select(
        [adjusted <= 0.01, adjusted <= 0.05, adjusted <= 0.10], [3, 2, 1], 0)
    assert np.array_equal(gi.bins_, expected)
    for q in (0.01, 0.05, 0.10):
        assert np.array_equal(bh_reject(gi.p_, q), textbook_bh(gi.p_, q))
    assert (gi.bins_ == 3).sum() > 0 and (gi.bins_ == 0).sum() > 0
    assert np.array_equal(gi.p_, 2 * stats.norm.sf(np.abs(gi.z_)))


def test_bh_handles_ties_and_edges():
    p = np.array([0.01, 0.01, 0.01, 0.5, 0.04])
    assert np.array_equal(bh_reject(p, 0.05), textbook_bh(p, 0.05))
    assert not bh_reject(np.array([0.5, 0.9]), 0.05).any()
    assert bh_reject(np.zeros(0), 0.05).shape == (0,)
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = np.round(rng.uniform(0, 0.2, 40) ** 2, 4)
        assert np.array_equal(bh_reject(p, 0.1), textbook_bh(p, 0.1))


def test_class_labels_follow_alpha():
    assert class_labels(np.array([3, 2, 1, 0, -1, -2, -3])).tolist() == [
        "hot_99", "hot_95", "hot_90", "not_significant", "cold_90", "cold_95", "cold_99"]
    assert class_labels(np.array([3, -2]), alpha=0.1).tolist() == ["hot_98", "cold_90"]
    with pytest.raises(InvalidInput):
        fdr_bins(np.ones(3), np.ones(3), alpha=0.5)


def test_gi_star_refuses_degenerate_counts():
    W = kring_weights(polyfill(extent_area((118.0, 36.8, 118.01, 36.81), 0), 9), 1)
    with pytest.raises(NotEnoughData):
        GiStar().fit(np.zeros(W.shape[0]), W)
    with pytest.raises(NotEnoughData):
        GiStar().fit(np.full(W.shape[0], 4.0), W)


def test_parents_match_h3():
    cell = h3.latlng_to_cell(36.8123, 118.0456, 12)
    for res in range(6, 13):
        assert parents(np.array([h3.str_to_int(cell)]), res)[0] == h3.str_to_int(
            h3.cell_to_parent(cell, res))


def naive_mk(x: np.ndarray) -> tuple[int, float, float]:
    n = len(x)
    s = sum(np.sign(x[j] - x[i]) for i in range(n) for j in range(i + 1, n))
    ties = sum(t * (t - 1) * (2 * t + 5) for t in Counter(x.tolist()).values())
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18
    z = 0.0 if s == 0 else (s - np.sign(s)) / np.sqrt(var)
    return int(s), var, z


def test_mann_kendall_equals_naive_reference_with_ties():
    rng = np.random.default_rng(11)
    x = rng.integers(0, 6, size=(30, 52)).astype(float)
    x[:5] += np.arange(52) * 0.2
    mk = MannKendall().fit(x)
    for i in range(len(x)):
        s, var, z = naive_mk(x[i])
        assert mk.s_[i] == s and mk.var_[i] == pytest.approx(var, rel=1e-12)
        assert mk.z_[i] == pytest.approx(z, rel=1e-12, abs=1e-12)
    assert np.allclose(mk.p_, 2 * stats.norm.sf(np.abs(mk.z_)))
    # without ties the uncorrected score is scipy's Kendall tau test against time
    y = rng.normal(size=40)
    s, var, _ = naive_mk(y)
    tau = stats.kendalltau(np.arange(40), y, method="asymptotic")
    assert 2 * stats.norm.sf(abs(s / np.sqrt(var))) == pytest.approx(tau.pvalue, rel=1e-9)


def _flags(spec: str) -> np.ndarray:
    return np.array([c == "H" for c in spec])


@pytest.mark.parametrize("hot, cold, trend, expected", [
    ("." * 19 + "H", "." * 20, 0, "new"),
    ("." * 16 + "HHHH", "." * 20, 0, "consecutive"),
    ("H" * 20, "." * 20, 3, "intensifying"),
    ("H" * 20, "." * 20, -3, "diminishing"),
    ("H" * 19 + "." , "." * 20, 0, "historical"),
    ("." + "H" * 19, "." * 20, 0, "persistent"),
    ("..H..H...HH.....H..H", "." * 20, 0, "sporadic"),
    ("..H..H...HH.....H..H", "H" + "." * 19, 0, "oscillating"),
    ("." * 20, "." * 19 + "H", 0, "new_cold"),
    ("." * 20, "H" * 20, -3, "intensifying_cold"),
    ("." * 20, "H" * 20, 3, "diminishing_cold"),
    ("." * 20, "." * 20, 3, "none"),
    ("H" * 18 + "..", "." * 20, 3, "historical"),
    ("H" * 17 + "...", "." * 20, 3, "none"),
    ("H..HH" + "." * 12 + "HHH", "." * 20, 0, "sporadic"),
])
def test_emerging_categories_follow_arcgis_definitions(hot, cold, trend, expected):
    got = classify(_flags(hot)[None], _flags(cold)[None], np.array([float(trend)]),
                   np.array([trend != 0]))
    assert got.tolist() == [expected]


def test_space_time_weights_look_back_only():
    W = sparse.identity(2, format="csr")
    st = space_time_weights(W, 3, 1).toarray()
    assert st[4].tolist() == [0, 0, 1, 0, 1, 0]  # cell 0 at t=2 ← cell 0 at t=1 and t=2
    assert st[0].tolist() == [1, 0, 0, 0, 0, 0]


def test_emerging_recovers_planted_trends_on_a_synthetic_cube():
    cells = polyfill(extent_area((118.0, 36.78, 118.06, 36.83), 0), 9)
    W = kring_weights(cells, 1)
    rng = np.random.default_rng(5)
    steps = 30
    cube = rng.poisson(2.0, size=(len(cells), steps)).astype(float)
    planted = {"intensifying": 40, "diminishing": 120, "persistent": 200, "new": 280}
    ramp = np.linspace(4, 12, steps)

    def ring(i):  # plant on the cell and its six neighbours
        return W[i].indices

    cube[ring(planted["intensifying"])] += ramp
    cube[ring(planted["diminishing"])] += ramp[::-1]
    cube[ring(planted["persistent"])] += 8
    cube[ring(planted["new"]), -1] += 12
    ehs = EmergingHotspots(time_window=0).fit(cube, W)
    for pattern, i in planted.items():
        assert ehs.category_[i] == pattern, (pattern, ehs.z_[i].round(1))
    assert (ehs.category_ == "none").mean() > 0.8


def test_quartic_kde_integrates_to_the_incident_count():
    centre = h3.str_to_int(h3.latlng_to_cell(36.80, 118.05, 11))
    kde = QuarticKDE(bandwidth_m=400, res=11, metric_epsg=32650).fit(np.array([centre]),
                                                                     np.array([10.0]))
    area_km2 = np.array([h3.cell_area(h3.int_to_str(int(c)), unit="km^2") for c in kde.cells_])
    assert (kde.density_ * area_km2).sum() == pytest.approx(10.0, rel=0.01)
    peak = 3 / (np.pi * 400.0**2) * 10 * 1e6
    assert kde.density_.max() == pytest.approx(peak, rel=0.01)


def test_default_bandwidth_rule():
    rng = np.random.default_rng(0)
    xy = rng.normal(0, 1000, size=(5000, 2))
    w = np.ones(5000)
    dist = np.hypot(*xy.T)
    sd = np.sqrt((dist**2).mean())
    dm = np.median(dist)
    expect = 0.9 * min(sd, np.sqrt(1 / np.log(2)) * dm) * 5000 ** -0.2
    assert default_bandwidth(xy, w) == pytest.approx(np.clip(expect, 100, 1000), rel=1e-3)
    assert default_bandwidth(xy * 100, w) == 1000.0
    assert res_for_bandwidth(300) == 10


def test_backtest_formulas():
    cells = polyfill(extent_area((118.0, 36.78, 118.03, 36.80), 0), 9)
    n = len(cells)
    train = np.zeros(n)
    test = np.zeros(n)
    train[:5], test[:5] = 20, 10
    train[5:], test[5:] = 1, 2
    bt = Backtest(top=5 / n, method="count").fit(cells, train, test, kring_weights(cells, 1))
    area = np.array([h3.cell_area(h3.int_to_str(int(c)), unit="m^2") for c in cells])
    assert sorted(bt.hotspots_.tolist()) == [0, 1, 2, 3, 4]
    hit = 50 / test.sum()
    assert bt.hit_rate_ == pytest.approx(hit)
    assert bt.pai_ == pytest.approx(hit / (area[:5].sum() / area.sum()))
    assert bt.rri_ == pytest.approx((50 / 100) / (test.sum() / train.sum()))
    with pytest.raises(InvalidInput):
        Backtest(top=0.9).fit(cells, train, test, kring_weights(cells, 1))


def test_gi_star_z_vectorised_over_columns_matches_single():
    cells = polyfill(extent_area((118.0, 36.78, 118.03, 36.80), 0), 9)
    W = kring_weights(cells, 2)
    x = np.random.default_rng(1).poisson(3, size=(len(cells), 4)).astype(float)
    z = gi_star_z(x, W)
    for t in range(4):
        assert np.allclose(z[:, t], gi_star_z(x[:, t], W), atol=1e-12)
    assert two_sided_p(np.array([0.0]))[0] == 1.0


def test_only_h3_cell_indexes_count_as_study_cells():
    """Rows stored without a real cell (h3 = 0, or another H3 index mode) stay out of the study."""
    import h3 as h3lib

    from geo.hotspots.cells import is_cell
    from geo.hotspots.study import with_incident_cells

    cell = h3lib.str_to_int(h3lib.latlng_to_cell(36.8, 118.0, 9))
    edge = h3lib.str_to_int(h3lib.origin_to_directed_edges(h3lib.int_to_str(cell))[0])
    got = is_cell(np.array([cell, 0, -1, edge], dtype=np.int64))
    assert got.tolist() == [True, False, False, False]
    cells = with_incident_cells(np.array([cell], dtype=np.int64),
                                np.array([0, cell], dtype=np.int64), None)
    assert cells.tolist() == [cell]

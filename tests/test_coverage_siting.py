"""Siting: lazy greedy and exact MCLP, on matrices and on a little town."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
import shapely
from test_coverage_support import (
    add_area,
    add_building,
    add_camera,
    add_incidents,
    add_road,
    to_local,
    to_lonlat,
)

from geo.coverage.basis import read_basis
from geo.coverage.placement import build_problem, site_cameras
from geo.coverage.settings import CoverageSettings
from geo.coverage.siting import ExactMCLP, LazyGreedy, curve_of
from geo.coverage.summary import summary
from geo.coverage.units import read_units
from geo.coverage.views import refresh_all
from geo.errors import InvalidInput
from geo.settings import ServiceAreaSettings


def _random_instance(seed, n=12, m=40, density=0.15):
    rng = np.random.default_rng(seed)
    A = rng.random((n, m)) < density
    w = rng.integers(1, 10, m).astype(float)
    return A, w


def _naive_greedy(A, w, k):
    covered = np.zeros(A.shape[1], dtype=bool)
    order = []
    for _ in range(k):
        gains = (A & ~covered) @ w
        gains[order] = -1
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        order.append(j)
        covered |= A[j]
    return order


@pytest.mark.parametrize("seed", range(6))
def test_lazy_greedy_equals_plain_greedy(seed):
    A, w = _random_instance(seed)
    lazy = LazyGreedy(4, one_per_site=False).fit(A, w)
    naive = _naive_greedy(A, w, 4)
    assert lazy.objective_ == pytest.approx(curve_of(__import__("scipy").sparse.csr_matrix(A), w,
                                                     naive)[-1])
    assert np.all(np.diff(np.r_[np.inf, lazy.gains_]) <= 0)


@pytest.mark.parametrize("seed", range(4))
def test_exact_mclp_equals_brute_force(seed):
    A, w = _random_instance(seed, n=10, m=30)
    best = max((w[A[list(c)].any(axis=0)].sum(), c) for c in combinations(range(10), 3))[0]
    est = ExactMCLP(3, time_limit=20, one_per_site=False).fit(A, w)
    assert est.objective_ == pytest.approx(best)
    assert est.status_ == "optimal" and est.gap_ == 0.0
    assert LazyGreedy(3, one_per_site=False).fit(A, w).objective_ <= best + 1e-9


def test_one_camera_per_site():
    A = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 1]], dtype=bool)
    w = np.ones(4)
    sites = np.array([0, 0, 1])
    g = LazyGreedy(2).fit(A, w, sites)
    assert sorted(g.chosen_.tolist()) == [1, 2] or g.chosen_.tolist()[0] == 1
    e = ExactMCLP(2).fit(A, w, sites)
    assert len(set(sites[e.chosen_])) == len(e.chosen_)


# --------------------------------------------------------------------------- a town

COMMUNITY = shapely.box(0, 0, 600, 300)
PLAZA = shapely.box(430, 90, 530, 210)
ROADS = [shapely.LineString([(0, 150), (600, 150)]), shapely.LineString([(480, 0), (480, 300)]),
         shapely.LineString([(150, 0), (150, 300)])]
BUILDINGS = [shapely.box(100, 20, 140, 50), shapely.box(200, 200, 260, 260),
             shapely.box(500, 20, 560, 60)]


def _incidents():
    rng = np.random.default_rng(5)
    return np.vstack([rng.uniform([435, 95], [525, 205], (40, 2)),
                      rng.uniform([0, 0], [600, 300], (40, 2))])


@pytest.fixture()
def town(empty_db):
    with empty_db.begin() as conn:
        add_area(conn, "D", "district", COMMUNITY)
        add_area(conn, "C1", "community", COMMUNITY, parent="D")
        for b in BUILDINGS:
            add_building(conn, b)
        for r in ROADS:
            add_road(conn, r)
        for x in (60, 180, 300):
            add_camera(conn, x, 150, kind="dome", fov=360.0, range_m=60.0, height_m=6.0, tilt=20.0)
        add_incidents(conn, _incidents())
    refresh_all(empty_db, settings=CoverageSettings(), area=ServiceAreaSettings())
    return empty_db


def test_greedy_siting_puts_the_first_camera_at_the_plaza(town):
    out = site_cameras(town, 3, "incidents", settings=CoverageSettings(),
                       area=ServiceAreaSettings())
    city = summary(town, "city", settings=CoverageSettings(),
                   area=ServiceAreaSettings())["units"][0]
    assert out["baseline"]["share"] == pytest.approx(city["incident_share"])
    shares = [c["share"] for c in out["curve"]]
    assert len(shares) == 4 and shares == sorted(shares) and shares[1] > shares[0]
    first = out["sites"]["features"][0]
    where = to_local(shapely.Point(first["geometry"]["coordinates"]))
    assert where.distance(PLAZA) < 60
    assert first["properties"]["gain"] >= 10
    assert first["properties"]["share_after"] == pytest.approx(shares[1])
    view = to_local(shapely.geometry.shape(first["properties"]["view"]))
    assert view.intersection(PLAZA).area > 1000


def test_greedy_beats_random_sites_and_exact_is_at_least_as_good(town):
    settings = CoverageSettings(_env_file=None)
    with town.connect() as conn:
        basis = read_basis(conn, area=ServiceAreaSettings())
        region = read_units(conn, "city", basis.proj)["geometry"].iloc[0]
    basis.setup_tiles(region.bounds)
    prob = build_problem(basis, region, "incidents", settings)
    greedy = LazyGreedy(3).fit(prob.A, prob.weights, prob.candidates["site"].to_numpy())
    rng = np.random.default_rng(0)
    random_best = max(curve_of(prob.A, prob.weights,
                               rng.choice(prob.A.shape[0], 3, replace=False))[-1]
                      for _ in range(300))
    assert greedy.objective_ > random_best
    exact = site_cameras(town, 3, "incidents", method="exact", settings=CoverageSettings(),
                         area=ServiceAreaSettings())
    assert exact["method"] == "exact" and exact["status"] == "optimal" and exact["gap"] == 0
    assert exact["objective"] >= greedy.objective_ - 1e-9


@pytest.mark.parametrize("weight", ["area", "roads"])
def test_area_and_road_weights(town, weight):
    out = site_cameras(town, 2, weight, settings=CoverageSettings(), area=ServiceAreaSettings())
    shares = [c["share"] for c in out["curve"]]
    assert 0 <= shares[0] < shares[1] <= shares[2] <= 1
    assert out["sites"]["features"][0]["properties"]["gain"] > 0


def test_posted_candidates(town):
    near = to_lonlat(shapely.Point(480, 150))
    far = to_lonlat(shapely.Point(20, 20))
    posted = [{"lon": far.x, "lat": far.y, "azimuth": 45.0},
              {"lon": near.x, "lat": near.y}]
    out = site_cameras(town, 1, "incidents", candidates=posted, settings=CoverageSettings(),
                       area=ServiceAreaSettings())
    got = out["sites"]["features"][0]["geometry"]["coordinates"]
    assert got == pytest.approx([near.x, near.y], abs=1e-7)
    assert out["candidates"] == 1 + CoverageSettings(_env_file=None).site_azimuths


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 0}, "k must"),
    ({"k": 2, "weight": "votes"}, "unknown weight"),
    ({"k": 2, "method": "magic"}, "unknown method"),
    ({"k": 2, "candidates": [{"lon": "x"}]}, "lon and lat"),
    ({"k": 2, "candidates": [{"lon": 118.0, "lat": 36.8, "azimuth": 400}]}, "azimuth"),
])
def test_bad_siting_requests(town, kwargs, match):
    with pytest.raises(InvalidInput, match=match):
        site_cameras(town, **kwargs, settings=CoverageSettings(), area=ServiceAreaSettings())

"""The grid-planning algorithms on synthetic buildings (no database).

Contiguity is checked independently of our graph: the test builds its own
Voronoi cells with shapely and unions the cells of each grid's buildings.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from scipy import sparse

from geo.gridplan.codes import assign_codes, spatial_order
from geo.gridplan.districting import RegionDistricting
from geo.gridplan.partition import BalancedPartition, choose_parts
from geo.gridplan.recombine import RandomForest, Sampler
from geo.gridplan.tessellation import (
    block_cells,
    candidate_pairs,
    dedupe_points,
    shared_lengths,
    split_region,
)

REGION = shapely.box(0, 0, 1200, 900)


def synth(n, seed=0, tower_share=0.06, region=REGION):
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = region.bounds
    pts = np.column_stack([rng.uniform(x0 + 5, x1 - 5, n), rng.uniform(y0 + 5, y1 - 5, n)])
    hh = np.where(rng.random(n) < tower_share, rng.integers(100, 301, n), rng.integers(10, 41, n))
    hh[rng.random(n) < 0.1] = 0
    return pts, hh.astype(float)


def independent_cells(points, region):
    """Voronoi cells by plain shapely, matched to points by containment."""
    diagram = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(points), extend_to=region.buffer(1000))
    )
    tree = shapely.STRtree(diagram)
    owner = tree.query(shapely.points(points), predicate="intersects")
    cells = np.empty(len(points), dtype=object)
    cells[owner[0]] = shapely.intersection(diagram[owner[1]], region)
    return cells


@pytest.fixture(scope="module")
def districted():
    pts, hh = synth(2000, seed=3)
    return pts, hh, RegionDistricting(target=300, tolerance=0.15).fit(REGION, pts, hh)


def test_every_building_gets_one_grid_and_households_add_up(districted):
    pts, hh, rd = districted
    assert rd.labels_.shape == (len(pts),)
    assert rd.labels_.min() == 0 and rd.labels_.max() == rd.n_grids_ - 1
    assert rd.households_.sum() == pytest.approx(hh.sum())
    assert rd.n_grids_ == choose_parts(hh.sum(), 300, 0.15)


def test_balance_within_band(districted):
    _, _, rd = districted
    h = rd.households_[rd.feasible_]
    share = np.mean((h >= 255) & (h <= 345))
    assert share >= 0.99, sorted(h)
    assert rd.feasible_.all()


def test_grids_are_contiguous_by_an_independent_union(districted):
    pts, _, rd = districted
    cells = independent_cells(pts, REGION)
    for k in range(rd.n_grids_):
        union = shapely.union_all(shapely.buffer(cells[rd.labels_ == k], 0.001))
        assert union.geom_type == "Polygon", f"grid {k} falls apart: {union.geom_type}"


def test_polygons_tile_the_region(districted):
    _, _, rd = districted
    areas = shapely.area(rd.polygons_)
    assert areas.sum() == pytest.approx(REGION.area, rel=1e-3)
    assert shapely.area(shapely.union_all(rd.polygons_)) == pytest.approx(REGION.area, rel=1e-3)
    assert all(p.geom_type == "MultiPolygon" and len(p.geoms) == 1 for p in rd.polygons_)


def test_every_building_lies_in_its_grid_polygon(districted):
    pts, _, rd = districted
    inside = shapely.intersects(rd.polygons_[rd.labels_], shapely.points(pts))
    assert inside.all()


def test_same_input_same_labels(districted):
    pts, hh, rd = districted
    again = RegionDistricting(target=300, tolerance=0.15).fit(REGION, pts, hh)
    np.testing.assert_array_equal(again.labels_, rd.labels_)


def test_compact_grids(districted):
    _, _, rd = districted
    a, p = shapely.area(rd.polygons_), shapely.length(rd.polygons_)
    pp = 4 * np.pi * a / p**2
    assert np.median(pp) > 0.45, np.median(pp)


def test_roads_cut_grids():
    pts, hh = synth(1200, seed=5)
    road = np.array([shapely.LineString([(600, -10), (640, 910)])])
    rd = RegionDistricting(target=300).fit(REGION, pts, hh, road)
    inner = shapely.buffer(rd.polygons_, -2)
    crossing = shapely.length(shapely.intersection(inner, road[0])) > 15
    assert crossing.sum() <= 1, crossing.sum()
    h = rd.households_
    assert np.mean((h >= 255) & (h <= 345)) >= 0.97
    # cells never cross the road: a road splits the region into two blocks
    assert len(split_region(REGION, road)) == 2
    assert shapely.area(rd.polygons_).sum() == pytest.approx(REGION.area, rel=1e-3)


@pytest.mark.parametrize("seed", [3, 8])
def test_empty_blocks_go_to_the_grids_of_their_nearest_buildings(seed):
    """Each point of a park (a block without buildings) joins the grid of its nearest building."""
    parks = [shapely.box(480, 300, 700, 520), shapely.box(40, 700, 160, 860)]
    pts, hh = synth(700, seed=seed)
    inside = np.zeros(len(pts), dtype=bool)
    for park in parks:
        inside |= shapely.contains_xy(park, pts[:, 0], pts[:, 1])
    pts, hh = pts[~inside], hh[~inside]
    rd = RegionDistricting(target=300).fit(REGION, pts, hh, np.array([p.exterior for p in parks]))
    rng = np.random.default_rng(seed)
    for park in parks:
        x0, y0, x1, y1 = park.bounds
        probe = np.column_stack([rng.uniform(x0, x1, 300), rng.uniform(y0, y1, 300)])
        nearest = np.argmin(((probe[:, None, :] - pts[None, :, :]) ** 2).sum(axis=2), axis=1)
        owner = rd.labels_[nearest]
        holds = shapely.contains_xy(rd.polygons_[owner], probe[:, 0], probe[:, 1])
        assert holds.all(), probe[~holds][:3]
        assert len(np.unique(owner)) > 1  # shared among grids, not given to one
    assert shapely.area(rd.polygons_).sum() == pytest.approx(REGION.area, rel=1e-6)


@pytest.mark.parametrize("seed", [5, 11])
def test_shared_borders_equal_a_polygon_overlay(seed):
    """Edge matching measures what intersecting each pair of cells measures, barriers included."""
    pts, _ = synth(900, seed=seed)
    road = np.array(
        [
            shapely.LineString([(600, -10), (640, 910)]),
            shapely.LineString([(-10, 450), (1210, 380)]),
        ]
    )
    atoms, _ = dedupe_points(pts)
    cells, _, block_of = block_cells(atoms, REGION, road)
    pairs = candidate_pairs(atoms)
    overlay = shapely.length(shapely.intersection(cells[pairs[:, 0]], cells[pairs[:, 1]]))
    same = block_of[pairs[:, 0]] == block_of[pairs[:, 1]]
    assert (~same).sum() > 10 and (overlay[~same] > 1).sum() > 5  # borders along the roads
    np.testing.assert_allclose(shared_lengths(cells, pairs, same), overlay, atol=1e-6)


def test_random_forest_trees_span_the_graph_and_weigh_their_subtrees():
    """Every drawn tree uses graph edges only; each subtree weight is the sum of its atoms."""
    rng = np.random.default_rng(4)
    pts = rng.random((40, 2))
    pairs = candidate_pairs(pts)
    nbrs = [[] for _ in range(40)]
    for a, b in pairs.tolist():
        nbrs[a].append(b)
        nbrs[b].append(a)
    w = rng.integers(0, 90, 40).astype(float)
    forest = RandomForest.draw(nbrs, w, Sampler(0, 100), 9)
    assert forest.below.shape == (9, 40)
    for t in range(9):
        parent = forest._parent[t]
        assert all(parent[v] in nbrs[v] for v in range(1, 40)) and parent[0] == -1
        for v in range(40):
            assert w[forest.subtree(t, v)].sum() == pytest.approx(forest.below[t, v])


def test_random_forest_draws_every_spanning_tree_of_a_cycle():
    """A 5-cycle has 5 spanning trees (drop one edge); 200 draws see each about 40 times."""
    nbrs = [[(v - 1) % 5, (v + 1) % 5] for v in range(5)]
    forest = RandomForest.draw(nbrs, np.ones(5), Sampler(1, 200), 200)
    dropped = []
    for t in range(200):
        kept = {frozenset((v, int(forest._parent[t][v]))) for v in range(1, 5)}
        cycle = [frozenset((v, (v + 1) % 5)) for v in range(5)]
        (gone,) = [v for v in range(5) if cycle[v] not in kept]
        dropped.append(gone)
    counts = np.bincount(dropped, minlength=5)
    assert counts.min() >= 20, counts
    assert RandomForest.draw([[1], [0], []], np.ones(3), Sampler(0, 5), 3) is None  # not connected
    assert RandomForest.draw(nbrs, np.ones(5), Sampler(0, 0), 3) is None  # budget spent


def test_forests_of_several_graphs_are_drawn_together():
    """Each graph gets its own trees; a lone atom or a disconnected graph gets none."""
    cycle = [[(v - 1) % 5, (v + 1) % 5] for v in range(5)]
    path = [[1], [0, 2], [1]]
    graphs = [
        (cycle, np.arange(5.0)),
        ([[]], np.ones(1)),
        ([[1], [0], []], np.ones(3)),
        (path, np.ones(3)),
    ]
    rng = Sampler(2, 100)
    first, lone, split, last = RandomForest.draw_many(graphs, rng, 6)
    assert lone is None and split is None and rng.left == 100 - 6 * 3
    assert first.below.shape == (6, 5) and (first.below[:, 0] == 10).all()
    assert last.below.shape == (6, 3) and (last.below[:, 0] == 3).all()
    for t in range(6):  # on a path rooted at its end, the middle holds two atoms
        assert last.below[t].tolist() == [3.0, 2.0, 1.0]
        for v in range(5):
            assert np.arange(5.0)[first.subtree(t, v)].sum() == first.below[t, v]


def test_oversized_building_and_small_community_are_reported():
    pts = np.array([[10.0, 10], [20, 10], [30, 10], [40, 10]])
    rd = RegionDistricting().fit(shapely.box(0, 0, 50, 20), pts, [400, 30, 30, 30])
    kinds = sorted(d["kind"] for d in rd.infeasible_)
    assert kinds == ["building_over_upper_bound", "community_too_small"]
    assert rd.n_grids_ == 2
    assert not rd.feasible_.any()
    big = next(d for d in rd.infeasible_ if d["kind"] == "building_over_upper_bound")
    assert big["buildings"] == [0]


def test_duplicate_points_share_a_grid():
    pts, hh = synth(400, seed=1)
    pts = np.vstack([pts, pts[:5]])
    hh = np.concatenate([hh, np.full(5, 10.0)])
    rd = RegionDistricting().fit(REGION, pts, hh)
    np.testing.assert_array_equal(rd.labels_[:5], rd.labels_[-5:])
    atoms, atom_of = dedupe_points(pts)
    assert len(atoms) == 400 and atom_of[-1] == atom_of[4]


def test_forced_split_count():
    pts, hh = synth(80, seed=2, region=shapely.box(0, 0, 200, 200))
    rd = RegionDistricting(n_parts=3).fit(shapely.box(0, 0, 200, 200), pts, hh)
    assert rd.n_grids_ == 3


def test_partition_on_a_path_graph_is_exact():
    n = 12
    path = sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1]).tocsr()
    bp = BalancedPartition(target=300).fit(np.full(n, 100.0), path)
    assert sorted(bp.part_weights_.tolist()) == [300.0] * 4
    for k in range(4):
        idx = np.flatnonzero(bp.labels_ == k)
        assert idx.max() - idx.min() == len(idx) - 1  # consecutive on a path = connected


@pytest.mark.parametrize(("h", "k"), [(100, 1), (300, 1), (600, 2), (1000, 3), (400, 1), (700, 2)])
def test_choose_parts(h, k):
    assert choose_parts(h, 300, 0.15) == k


def test_codes_follow_columns_west_to_east_then_north_to_south():
    cents = np.array([[50.0, 500], [60, 100], [450, 900], [455, 50], [55, 300]])
    order = spatial_order(cents, column_width=200)
    assert order.tolist() == [0, 4, 1, 2, 3]
    members = [frozenset({i}) for i in range(5)]
    codes = assign_codes("C", cents, members, {}, column_width=200)
    assert codes == ["C001", "C003", "C004", "C005", "C002"]


def test_codes_kept_for_unchanged_grids_and_free_numbers_reused():
    cents = np.array([[0.0, 0], [100, 0], [200, 0]])
    members = [frozenset({1, 2}), frozenset({3}), frozenset({4})]
    previous = {"C002": frozenset({1, 2}), "C001": frozenset({3, 9})}
    codes = assign_codes("C", cents, members, previous, taken={"C003"}, column_width=50)
    assert codes[0] == "C002"
    assert codes[1:] == ["C001", "C004"]


def test_group_cover_pairs_towers_on_a_path():
    from geo.gridplan.setcover import GroupCover

    # towers that only fit the band in pairs or with the small buildings next to them
    w = np.array([150, 0, 150, 200, 0, 100, 290, 20, 0, 130, 140], dtype=float)
    n = len(w)
    path = sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1]).tocsr()
    gc = GroupCover(300, 255, 345).fit(w, path)
    assert gc.ok_ and gc.broken_ == 0
    sums = np.bincount(gc.labels_, w)
    assert ((sums >= 255) & (sums <= 345)).all(), sums
    for k in range(gc.labels_.max() + 1):
        idx = np.flatnonzero(gc.labels_ == k)
        assert idx.max() - idx.min() == len(idx) - 1


def test_tower_district_is_balanced():
    """Compounds of two towers that only fit the band together (a feasible plan exists)."""
    rng = np.random.default_rng(11)
    region = shapely.box(0, 0, 900, 700)
    centres = np.column_stack([rng.uniform(40, 860, 40), rng.uniform(40, 660, 40)])
    centres = centres[np.argsort(centres[:, 0])]
    first = rng.integers(100, 201, len(centres)).astype(float)
    second = 300 - first + rng.integers(-30, 31, len(centres))
    angle = rng.uniform(0, np.pi, len(centres))
    off = 12 * np.column_stack([np.cos(angle), np.sin(angle)])
    towers = np.vstack([centres - off, centres + off])
    empty = np.column_stack([rng.uniform(5, 895, 150), rng.uniform(5, 695, 150)])
    pts = np.vstack([towers, empty])
    hh = np.concatenate([first, second, np.zeros(len(empty))])
    rd = RegionDistricting().fit(region, pts, hh)
    h = rd.households_[rd.feasible_]
    assert rd.feasible_.all()
    assert np.mean((h >= 255) & (h <= 345)) >= 0.95, sorted(h)
    cells = independent_cells(pts, region)
    for k in range(rd.n_grids_):
        union = shapely.union_all(shapely.buffer(cells[rd.labels_ == k], 0.001))
        assert union.geom_type == "Polygon"


def _runs(w, top=345):
    """Groups of consecutive buildings on a row (a path), up to ``top`` households."""
    n = len(w)
    runs = [tuple(range(i, j)) for i in range(n) for j in range(i + 1, n + 1)]
    return [g for g in runs if w[list(g)].sum() <= top]


def test_exact_cover_is_inside_the_band_when_a_grouping_allows():
    from geo.gridplan.cover import ExactCover

    w = np.array([150.0, 150.0, 240.0, 20.0, 100.0, 200.0])
    groups = _runs(w)
    ec = ExactCover(300, 255, 345).fit(w, groups, [frozenset()] * len(groups))
    sums = sorted(w[list(groups[i])].sum() for i in ec.chosen_)
    assert sums == [260.0, 300.0, 300.0] and ec.outside_ == 0
    covered = sorted(a for i in ec.chosen_ for a in groups[i])
    assert covered == list(range(len(w)))  # every building exactly once


def test_exact_cover_keeps_the_fewest_groups_outside():
    from geo.gridplan.cover import ExactCover

    # 240 + 10 = 250 cannot reach 255: one group must stay outside, and only one
    w = np.array([150.0, 150.0, 240.0, 10.0])
    groups = _runs(w)
    ec = ExactCover(300, 255, 345).fit(w, groups, [frozenset()] * len(groups))
    assert ec.outside_ == 1
    assert sorted(w[list(groups[i])].sum() for i in ec.chosen_) == [250.0, 300.0]


def test_exact_cover_never_shares_a_link_building():
    from geo.gridplan.cover import ExactCover

    # {0,1} and {2,3} both need the household-free building 9 as their link
    w = np.array([150.0, 150.0, 150.0, 150.0])
    groups = [(0, 1), (2, 3), (1, 2), (0,), (3,)]
    links = [frozenset({9}), frozenset({9}), frozenset(), frozenset(), frozenset()]
    ec = ExactCover(300, 255, 345).fit(w, groups, links)
    chosen = sorted(ec.chosen_)
    assert not ({0, 1} <= set(chosen))
    assert chosen == [2, 3, 4] and ec.outside_ == 2


def test_exact_cover_skips_the_levels_its_relaxation_rules_out():
    from itertools import combinations

    from geo.gridplan.cover import ExactCover

    # 150, 150, 100 on a path: the 100 can join no group inside [255, 345], so one stays out
    w = np.array([150.0, 150.0, 100.0])
    groups = [(0,), (1,), (2,), (0, 1), (1, 2)]
    ec = ExactCover(300, 255, 345, levels=(0,)).fit(w, groups, [frozenset()] * 5)
    assert ec.chosen_ is None and ec.nodes_ == 0  # no search at all
    # three 100s: every group is outside the band and a cover takes two groups at least, so
    # the search for one outside (which would fail after its nodes) is not run either
    no_links, hundreds = [frozenset()] * 5, np.full(3, 100.0)
    one_out = ExactCover(300, 255, 345, levels=(0, 1)).fit(hundreds, groups, no_links)
    assert one_out.chosen_ is None and one_out.nodes_ == 0
    assert ExactCover(300, 255, 345, levels=(0, 1, 2)).fit(hundreds, groups, no_links).outside_ == 2
    ec = ExactCover(300, 255, 345, levels=(0, 1)).fit(w, groups, [frozenset()] * 5)
    assert ec.outside_ == 1 and sorted(len(groups[i]) for i in ec.chosen_) == [1, 2]
    # the fewest groups outside, by brute force over every cover: the search found it
    covers = [
        c for k in (1, 2, 3) for c in combinations(range(5), k)
        if sorted(a for i in c for a in groups[i]) == [0, 1, 2]
    ]
    fewest = min(sum(not 255 <= w[list(groups[i])].sum() <= 345 for i in c) for c in covers)
    assert fewest == ec.outside_ == 1


def test_forced_split_keeps_its_count_in_a_tower_district():
    rng = np.random.default_rng(4)
    region = shapely.box(0, 0, 300, 300)
    pts = np.column_stack([rng.uniform(5, 295, 30), rng.uniform(5, 295, 30)])
    hh = np.zeros(30)
    hh[:6] = [150, 160, 140, 170, 150, 130]
    rd = RegionDistricting(n_parts=3).fit(region, pts, hh)
    assert rd.n_grids_ == 3
    assert rd.households_.sum() == pytest.approx(900)


def test_neighbourhood_of_a_grid_outside_is_regrouped_inside_the_band():
    from geo.gridplan.neighbourhood import cover_around

    # on a row: [150 150 | 240 | 20 100 200] = 300, 240 (outside), 320
    w = np.array([150.0, 150.0, 240.0, 20.0, 100.0, 200.0])
    n = len(w)
    path = sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1]).tocsr()
    labels = cover_around(np.array([0, 0, 1, 2, 2, 2]), w, path, 300, 255, 345)
    sums = np.bincount(labels, w)
    assert sorted(sums.tolist()) == [260.0, 300.0, 300.0]
    for k in range(labels.max() + 1):
        idx = np.flatnonzero(labels == k)
        assert idx.max() - idx.min() == len(idx) - 1  # consecutive on a row = contiguous
    inside = np.array([0, 0, 1, 1, 2, 2])  # already inside the band: left as it is
    again = cover_around(inside, np.full(6, 150.0), path, 300, 255, 345)
    np.testing.assert_array_equal(again, inside)


def test_band_cost_equals_its_numpy_formula_bit_for_bit():
    # compiled (numba ufunc) in geo.gridplan.recombine; the repairs compare these costs exactly
    from geo.gridplan.recombine import band_cost, outside_penalty

    rng = np.random.default_rng(0)
    for shape in [(), (7,), (3, 5), (40, 12)]:
        x = np.round(rng.uniform(0, 700, shape), int(rng.integers(0, 3)))
        for target, lo, hi in [(300, 255, 345), (150, 127.5, 172.5)]:
            viol = np.maximum(0.0, x - hi) + np.maximum(0.0, lo - x)
            penalty = outside_penalty(lo, hi) * (viol > 0)
            want = 1000.0 * (viol + penalty) + (x - target) ** 2 / target
            assert np.array_equal(np.asarray(band_cost(x, target, lo, hi)), want)
    assert band_cost(np.array([300, 600]), 300, 255, 345).tolist()[0] == 0.0  # whole numbers too

"""Communities whose households cannot be grouped into the band by any plan.

``packs`` is checked against a brute force over every set partition; a
community that it proves infeasible is reported by the redistricting and by the
evaluation alike, and its grids leave the "feasible" share.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.gridplan.districting import RegionDistricting
from geo.gridplan.evaluate import PlanData, PlanEvaluation
from geo.gridplan.packing import grouping_problem, packs

LO, HI = 255.0, 345.0
# Eight buildings, 1,126 households: 4 grids fit by count (281.5 each), but no
# grouping does: 232 needs 23..113 more and only 100 or 108 fit, and then the rest fail.
UNPACKABLE = [18, 100, 108, 126, 150, 184, 208, 232]


def set_partitions(items):
    """Every partition of ``items`` into blocks (Bell-number many)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first, *part[i]]] + part[i + 1 :]
        yield [[first], *part]


def brute_force(weights) -> bool:
    return any(
        all(LO <= sum(block) <= HI for block in part) for part in set_partitions(list(weights))
    )


@pytest.mark.parametrize("seed", range(40))
def test_packs_agrees_with_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    w = rng.choice([20, 40, 90, 100, 120, 150, 180, 200, 230, 250, 300], size=n).tolist()
    assert packs(w, LO, HI) is brute_force(w)


def test_packs_reference_cases():
    assert packs(UNPACKABLE, LO, HI) is False
    assert brute_force(UNPACKABLE) is False
    assert packs([150, 150, 200, 100], LO, HI) is True
    assert packs([300] * 200, LO, HI) is True


def test_packs_gives_up_rather_than_guess():
    # 61 weights of 131..137: every group is a pair, so an odd count cannot pack; the
    # search cannot see that without trying the pairings, and says so instead of guessing
    odd = [131.0 + (i % 7) for i in range(61)]
    assert packs(odd, LO, HI) is None
    assert grouping_problem(odd[:40], LO, HI) is None  # even: packs
    assert packs(odd[:40], LO, HI) is True


def test_grouping_problem_leaves_out_oversized_and_empty_buildings():
    assert grouping_problem([*UNPACKABLE, 0, 0, 900], LO, HI)["kind"] == "no_grouping_fits"
    assert grouping_problem([300, 0, 900], LO, HI) is None
    assert grouping_problem([100] * 41 + [232], LO, HI) is None  # too many buildings to search


def tower_community():
    pts = np.array([[20.0 + 40 * i, 20.0] for i in range(len(UNPACKABLE))])
    return shapely.box(0, 0, 40 * len(UNPACKABLE), 40), pts, np.array(UNPACKABLE, float)


def test_redistricting_reports_an_unpackable_community_and_marks_its_grids():
    region, pts, hh = tower_community()
    rd = RegionDistricting().fit(region, pts, hh)
    assert not rd.feasible_.any()
    (case,) = rd.infeasible_
    assert case["kind"] == "no_grouping_fits"
    assert "232" in case["detail"] and "[255, 345]" in case["detail"]
    assert case["buildings"] == list(range(len(UNPACKABLE)))
    # the plan is still the best one possible: every building in one grid, contiguous
    assert rd.households_.sum() == sum(UNPACKABLE)


def test_packable_community_stays_feasible():
    region, pts, _ = tower_community()
    hh = np.array([150, 150, 200, 100, 140, 160, 150, 150], float)
    rd = RegionDistricting().fit(region, pts, hh)
    assert rd.feasible_.all() and rd.infeasible_ == []
    assert ((rd.households_ >= LO) & (rd.households_ <= HI)).all()


def test_forced_split_is_not_judged_by_grouping():
    region, pts, hh = tower_community()
    rd = RegionDistricting(n_parts=2).fit(region, pts, hh)
    assert all(d["kind"] != "no_grouping_fits" for d in rd.infeasible_)


def test_evaluation_reports_the_same_community():
    region, pts, hh = tower_community()
    rd = RegionDistricting().fit(region, pts, hh)
    grids = gpd.GeoDataFrame(
        {"code": [f"c{i:03d}" for i in range(rd.n_grids_)], "community_code": "c", "locked": False},
        geometry=list(rd.polygons_),
        index=np.arange(1, rd.n_grids_ + 1),
    )
    buildings = gpd.GeoDataFrame(
        {
            "households": hh.astype(int),
            "population": (hh * 2.5).astype(int),
            "community_code": "c",
            "grid_id": rd.labels_ + 1.0,
        },
        geometry=shapely.points(pts),
        index=np.arange(100, 100 + len(hh)),
    )
    communities = gpd.GeoDataFrame({"code": ["c"]}, geometry=[region])
    ev = PlanEvaluation().fit(PlanData(grids, buildings, communities, np.empty(0, object)))
    (case,) = ev.infeasible_
    assert case["kind"] == "no_grouping_fits" and case["community_code"] == "c"
    assert case["buildings"] == list(range(100, 100 + len(hh)))
    assert ev.summary_["feasible_grids"] == 0
    assert ev.summary_["grids"] == rd.n_grids_
    # no feasible grid: the share in the band is unknown, not 100 %
    assert ev.summary_["within_band_share"] is None
    assert ev.summary_["within_band_share_decided"] is None


def test_a_redistricting_without_feasible_grids_has_no_share():
    from geo.gridplan.redistrict import RedistrictParams, _report

    row = {"community_code": "c", "grids": 1, "feasible_grids": 0, "within_band": 0,
           "infeasible": [{"kind": "no_grouping_fits", "detail": "…"}], "undecided": [],
           "undecided_grids": 0}
    report = _report(7, 2, [row], RedistrictParams(), 0.1, 0.1)
    assert report["within_band_share"] is None and report["feasible_grids"] == 0
    row = {**row, "grids": 2, "feasible_grids": 2, "within_band": 1, "infeasible": []}
    assert _report(7, 2, [row], RedistrictParams(), 0.1, 0.1)["within_band_share"] == 0.5


def test_a_proved_community_ends_its_attempts(monkeypatch):
    """One attempt, then the quick proof (small budget): no more attempts or exact search."""
    from scipy import sparse

    from geo.gridplan import partition
    from geo.gridplan.partition import BalancedPartition

    starts = []
    start = BalancedPartition._start
    monkeypatch.setattr(
        BalancedPartition, "_start", lambda self, *a: starts.append(1) or start(self, *a)
    )
    # towers of 200, 200, 100, 100 in a row: 200 + 100 twice fits by households, not contiguously
    path = sparse.diags([np.ones(3), np.ones(3)], [-1, 1]).tocsr()
    bp = BalancedPartition(300).fit(np.array([200.0, 200, 100, 100]), path)
    (case,) = bp.infeasible_
    assert case["kind"] == partition.ProofKind.NO_CONTIGUOUS_GROUPING_FITS
    assert len(starts) == 1 and bp.undecided_ == []


def test_a_quick_ask_that_proves_nothing_leaves_the_full_proof_to_come(monkeypatch):
    from scipy import sparse

    from geo.gridplan import quickproof
    from geo.gridplan.quickproof import QuickProof

    path = sparse.diags([np.ones(3), np.ones(3)], [-1, 1]).tocsr()
    w = np.array([200.0, 200, 100, 100])  # no contiguous split (see above)
    monkeypatch.setattr(quickproof, "QUICK", (0, 0))  # no tower group fits this budget
    proof = QuickProof(w, path, 255, 345, target=300)
    assert proof.proved(quick=True) is False and proof.verdict is None
    assert proof.proved() is True and "contiguous" in proof.verdict["detail"]
    monkeypatch.setattr(quickproof, "QUICK", (1_000, 5_000))
    quick = QuickProof(w, path, 255, 345, target=300)
    assert quick.proved(quick=True) is True and quick.verdict == proof.verdict

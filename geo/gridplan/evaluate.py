"""Evaluation of a grid plan: per grid, per community and in total.

Everything metric (areas, perimeters, Polsby–Popper, barrier lengths) is
computed in a projected CRS; the inputs are expected in one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.gridplan.alternatives import alternatives
from geo.gridplan.constraint import WORK
from geo.gridplan.districting import grouping_verdict
from geo.gridplan.exactsplit import SearchBudget
from geo.gridplan.frontier import STATES
from geo.gridplan.packing import grouping_problem
from geo.gridplan.partition import choose_parts
from geo.gridplan.settings import band
from geo.gridplan.tessellation import split_region

INSET_M = 2.0
OUTSIDE_SHARE = 0.01


@dataclass
class PlanData:
    """A plan's grids and the context they are judged against (metric CRS).

    Attributes
    ----------
    grids : GeoDataFrame
        Index grid id; ``code``, ``community_code``, ``locked``, geometry.
    buildings : GeoDataFrame
        Index building id; ``households``, ``population``, ``community_code``,
        ``grid_id`` (NaN when unassigned), point geometry.
    communities : GeoDataFrame
        ``code`` and polygon geometry of the communities concerned.
    barriers : ndarray of lines
        Arterial roads and rivers.
    """

    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    barriers: np.ndarray


class PlanEvaluation:
    """Judge a plan against the household band and the geometric rules.

    Parameters
    ----------
    target : float
        Households per grid.
    tolerance : float
        Relative band.
    barrier_tolerance_m : float
        Metres of arterial road / river inside a grid before it "crosses".
    exact : bool
        Whether communities left outside the band are checked for a proof that
        no contiguous grouping fits (builds their building graph; off for the
        per-edit evaluation, which sees only the touched grids' buildings).
    search_states : int
        States the atom-by-atom searches of one evaluation may keep in all
        (:class:`~geo.gridplan.frontier.FrontierSplit`, about 2 s per 150,000);
    solver_work : float
        Deterministic work the constraint solver of one evaluation may spend in
        all (:class:`~geo.gridplan.constraint.ConstraintSplit`, about 0.5 s a
        unit); pieces left when the budgets are spent are reported undecided.

    Attributes
    ----------
    grids_ : DataFrame
        One row per grid (index grid id).
    communities_ : DataFrame
        One row per community.
    infeasible_ : list of dict
        ``{"community_code", "kind", "detail"}``.
    undecided_ : list of dict
        ``{"community_code", "detail", "buildings"}``: communities with grids
        outside the band that no proof explains.
    summary_ : dict
        Totals.
    """

    def __init__(
        self,
        target: float = 300,
        tolerance: float = 0.15,
        barrier_tolerance_m: float = 15.0,
        exact: bool = True,
        search_states: int = 4 * STATES,
        solver_work: float = 2 * WORK,
    ):
        self.target = target
        self.tolerance = tolerance
        self.barrier_tolerance_m = barrier_tolerance_m
        self.exact = exact
        self.search_states = search_states
        self.solver_work = solver_work

    def fit(self, data: PlanData) -> PlanEvaluation:
        """Evaluate ``data``."""
        self.undecided_ = []
        self._budget = SearchBudget(self.search_states, self.solver_work)
        self.infeasible_ = self._infeasible(data)
        bad_communities = {
            d["community_code"]
            for d in self.infeasible_
            if d["kind"] != "building_over_upper_bound"
        }
        self.grids_ = self._grids(data, bad_communities)
        undecided = {d["community_code"] for d in self.undecided_}
        self.grids_["undecided"] = self.grids_["feasible"] & self.grids_["community_code"].isin(
            undecided
        )
        self.communities_ = self._communities(data)
        self.summary_ = self._summary(data)
        return self

    # -- per grid -------------------------------------------------------------------
    def _grids(self, data: PlanData, bad_communities: set) -> pd.DataFrame:
        lo, hi = band(self.target, self.tolerance)
        g = data.grids
        b = data.buildings[data.buildings["grid_id"].notna()]
        agg = b.groupby("grid_id").agg(
            households=("households", "sum"),
            population=("population", "sum"),
            buildings=("households", "size"),
            largest=("households", "max"),
        )
        df = pd.DataFrame(index=g.index)
        df["code"] = g["code"]
        df["community_code"] = g["community_code"]
        df["locked"] = g["locked"].astype(bool)
        df = df.join(agg)
        df[["households", "population", "buildings", "largest"]] = (
            df[["households", "population", "buildings", "largest"]].fillna(0).astype(int)
        )
        df["deviation"] = (df["households"] - self.target) / self.target
        df["within_band"] = (df["households"] >= lo) & (df["households"] <= hi)
        df["feasible"] = (df["largest"] <= hi) & ~df["community_code"].isin(bad_communities)
        geoms = g.geometry.values
        area = shapely.area(geoms)
        perim = shapely.length(geoms)
        df["area_m2"] = area
        df["parts"] = shapely.get_num_geometries(geoms)
        df["contiguous"] = df["parts"] == 1
        df["holes"] = [_holes(x) for x in geoms]
        df["polsby_popper"] = np.where(
            perim > 0, 4 * math.pi * area / np.maximum(perim, 1e-9) ** 2, 0
        )
        df["outside_community_m2"] = self._outside(g, data.communities)
        df["crosses_community"] = df["outside_community_m2"] > OUTSIDE_SHARE * np.maximum(area, 1)
        df["barrier_m"] = self._barrier_length(geoms, data.barriers)
        sides = self._sides(b, data.communities, data.barriers)
        df["barrier_sides"] = sides.reindex(df.index).fillna(1).astype(int)
        df["crosses_barrier"] = (df["barrier_sides"] > 1) | (
            df["barrier_sides"].eq(1)
            & (df["buildings"] == 0)
            & (df["barrier_m"] > self.barrier_tolerance_m)
        )
        df["buildings_outside"] = self._outside_buildings(g, b)
        return df.drop(columns="largest")

    @staticmethod
    def _outside(grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> np.ndarray:
        comm = dict(zip(communities["code"], communities.geometry.values, strict=True))
        geoms = [comm.get(c) for c in grids["community_code"]]
        out = np.zeros(len(grids))
        have = np.array([x is not None for x in geoms], dtype=bool)
        if have.any():
            cg = np.array(geoms, dtype=object)[have]
            out[have] = shapely.area(shapely.difference(grids.geometry.values[have], cg))
        return out

    @staticmethod
    def _barrier_length(geoms: np.ndarray, barriers: np.ndarray) -> np.ndarray:
        if barriers is None or len(barriers) == 0 or len(geoms) == 0:
            return np.zeros(len(geoms))
        lines = shapely.union_all(barriers)
        inner = shapely.buffer(geoms, -INSET_M)
        return shapely.length(shapely.intersection(inner, lines))

    @staticmethod
    def _sides(
        members: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, barriers: np.ndarray
    ) -> pd.Series:
        """Per grid, on how many sides of arterial roads / the river its buildings lie."""
        block = pd.Series(-1, index=members.index, dtype=np.int64)
        offset = 0
        for code, geom in zip(communities["code"], communities.geometry.values, strict=True):
            mine = (members["community_code"] == code).values
            if not mine.any():
                continue
            near = (
                barriers[shapely.intersects(barriers, shapely.envelope(geom))]
                if len(barriers)
                else barriers
            )
            blocks = split_region(geom, near)
            idx = shapely.STRtree(blocks).nearest(members.geometry.values[mine])
            block[members.index[mine]] = idx + offset
            offset += len(blocks)
        return block.groupby(members["grid_id"].values).nunique()

    @staticmethod
    def _outside_buildings(grids: gpd.GeoDataFrame, members: gpd.GeoDataFrame) -> np.ndarray:
        if len(members) == 0:
            return np.zeros(len(grids), dtype=int)
        geom_of = pd.Series(grids.geometry.values, index=grids.index)
        gm = geom_of.reindex(members["grid_id"]).values
        ok = np.array([x is not None for x in gm], dtype=bool)
        inside = np.ones(len(members), dtype=bool)
        inside[ok] = shapely.intersects(gm[ok], members.geometry.values[ok])
        counts = pd.Series(~inside, index=members["grid_id"].values).groupby(level=0).sum()
        return counts.reindex(grids.index).fillna(0).astype(int).values

    # -- per community ------------------------------------------------------------
    def _communities(self, data: PlanData) -> pd.DataFrame:
        g = data.grids
        rows = []
        hh = data.buildings.groupby("community_code")["households"].sum()
        for code, geom in zip(
            data.communities["code"], data.communities.geometry.values, strict=True
        ):
            mine = g.geometry.values[(g["community_code"] == code).values]
            union = shapely.union_all(mine) if len(mine) else shapely.Polygon()
            covered = shapely.area(shapely.intersection(union, geom))
            rows.append(
                {
                    "community_code": code,
                    "households": int(hh.get(code, 0)),
                    "grids": len(mine),
                    "area_m2": float(geom.area),
                    "grid_area_m2": float(shapely.area(mine).sum()) if len(mine) else 0.0,
                    "overlap_m2": float(shapely.area(mine).sum() - shapely.area(union))
                    if len(mine)
                    else 0.0,
                    "gap_m2": float(geom.area - covered),
                }
            )
        return pd.DataFrame(
            rows,
            columns=[
                "community_code",
                "households",
                "grids",
                "area_m2",
                "grid_area_m2",
                "overlap_m2",
                "gap_m2",
            ],
        )

    def _infeasible(self, data: PlanData) -> list[dict]:
        buildings = data.buildings
        lo, hi = band(self.target, self.tolerance)
        balanced = _balanced_communities(buildings, lo, hi)
        out = []
        for code, grp in buildings.groupby("community_code", sort=True):
            big = grp[grp["households"] > hi]
            for bid, h in big["households"].items():
                out.append(
                    {
                        "community_code": code,
                        "kind": "building_over_upper_bound",
                        "detail": f"building {bid} holds {h} households > {hi:g}",
                        "buildings": [int(bid)],
                    }
                )
            rest = float(grp["households"].sum() - big["households"].sum())
            if big.empty or rest > 0:
                problems = _count_problem(code, rest, self.target, self.tolerance, lo, hi)
                if not problems and code not in balanced:
                    grouping = grouping_problem(grp["households"].to_numpy(), lo, hi)
                    if grouping:
                        held = grp.index[grouping["buildings"]].tolist()
                        problems = [{"community_code": code, **grouping, "buildings": held}]
                    elif self.exact:
                        problems = self._contiguity(data, code, grp)
                for d in problems:
                    d.setdefault(
                        "alternatives",
                        alternatives(
                            d["kind"], grp["households"].to_numpy(float), self.target,
                            self.tolerance,
                        ),
                    )
                out.extend(problems)
        return out

    def _contiguity(self, data: PlanData, code, grp) -> list[dict]:
        """Proofs that no contiguous grouping fits; the rest goes to ``undecided_``."""
        comm = data.communities
        geoms = comm.geometry.values[(comm["code"] == code).values]
        if len(geoms) == 0:
            return []
        near = data.barriers
        if near is not None and len(near):
            near = near[shapely.intersects(near, shapely.envelope(geoms[0]))]
        pts = shapely.get_coordinates(shapely.point_on_surface(grp.geometry.values))
        out = []
        verdicts = grouping_verdict(
            geoms[0], pts, grp["households"].to_numpy(float), near, self.target, self.tolerance,
            self._budget,
        )
        for d in verdicts:
            rec = {
                "community_code": code,
                **d,
                "buildings": grp.index[d["buildings"]].tolist(),
            }
            if d["kind"] == "undecided":
                self.undecided_.append({k: v for k, v in rec.items() if k != "kind"})
            else:
                rec["alternatives"] = alternatives(
                    d["kind"],
                    grp["households"].to_numpy(float),
                    self.target,
                    self.tolerance,
                    plan=grp.groupby("grid_id")["households"].sum().to_numpy(float),
                )
                out.append(rec)
        return out

    # -- totals ---------------------------------------------------------------------
    def _summary(self, data: PlanData) -> dict:
        df = self.grids_
        feas = df[df["feasible"]]
        decided = feas[~feas["undecided"]]
        unassigned = data.buildings[data.buildings["grid_id"].isna()]
        return {
            "grids": int(len(df)),
            "feasible_grids": int(len(feas)),
            "within_band": int(feas["within_band"].sum()),
            # None when no grid is feasible: a share of nothing is not 100 %
            "within_band_share": float(feas["within_band"].mean()) if len(feas) else None,
            # grids of communities neither solved in the band nor shown infeasible
            "undecided_grids": int(feas["undecided"].sum()),
            "undecided_outside_band": int((feas["undecided"] & ~feas["within_band"]).sum()),
            "within_band_share_decided": float(decided["within_band"].mean())
            if len(decided)
            else None,
            "households": int(df["households"].sum()),
            "mean_abs_deviation": float(df["deviation"].abs().mean()) if len(df) else 0.0,
            "non_contiguous": int((~df["contiguous"]).sum()),
            "with_holes": int((df["holes"] > 0).sum()),
            "mean_polsby_popper": float(df["polsby_popper"].mean()) if len(df) else 0.0,
            "crossing_community": int(df["crosses_community"].sum()),
            "crossing_barrier": int(df["crosses_barrier"].sum()),
            "buildings_outside_their_grid": int(df["buildings_outside"].sum()),
            "overlap_m2": float(self.communities_["overlap_m2"].sum()),
            "gap_m2": float(self.communities_["gap_m2"].sum()),
            "unassigned_buildings": int(len(unassigned)),
            "unassigned_households": int(unassigned["households"].sum()),
            "infeasible": len(self.infeasible_),
            "band": list(band(self.target, self.tolerance)),
        }

    def to_dict(self, grids: bool = True) -> dict:
        """JSON-ready result."""
        out = {
            "summary": self.summary_,
            "communities": _records(self.communities_),
            "infeasible": self.infeasible_,
            "undecided": self.undecided_,
        }
        if grids:
            out["grids"] = _records(self.grids_.reset_index(names="id"))
        return out


def _balanced_communities(buildings: gpd.GeoDataFrame, lo: float, hi: float) -> set:
    """Communities whose buildings all sit in grids inside the band: a grouping exists."""
    assigned = buildings[buildings["grid_id"].notna()]
    sums = assigned.groupby(["community_code", "grid_id"])["households"].sum()
    inside = sums.between(lo, hi).groupby(level=0).all()
    whole = buildings["grid_id"].notna().groupby(buildings["community_code"]).all()
    return set(inside.index[inside]) & set(whole.index[whole])


def _count_problem(code, h, target, tolerance, lo, hi) -> list[dict]:
    if h < lo:
        return [
            {
                "community_code": code,
                "kind": "community_too_small",
                "detail": f"{h:g} households < lower bound {lo:g}",
                "buildings": [],
            }
        ]
    k = choose_parts(h, target, tolerance)
    if not lo <= h / k <= hi:
        return [
            {
                "community_code": code,
                "kind": "no_grid_count_fits",
                "detail": f"{h:g} households fit no number of grids in [{lo:g}, {hi:g}]",
                "buildings": [],
            }
        ]
    return []


def _holes(geom) -> int:
    if geom is None or geom.is_empty:
        return 0
    return int(shapely.get_num_interior_rings(shapely.get_parts(geom)).sum())


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: _plain(v) for k, v in rec.items()})
    return out


def _plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return round(v, 6) if math.isfinite(v) else None
    return v

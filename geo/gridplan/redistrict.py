"""Redistrict communities of a draft plan in the database.

Per community: the region is the community minus its locked grids; the other
buildings of the community are partitioned (:class:`RegionDistricting`); the
community's unlocked grids are replaced; grids whose set of buildings did not
change keep their codes. Everything runs in one transaction on a locked plan.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Connection, Engine

from geo.crs import Projector
from geo.errors import InvalidInput
from geo.gridplan import plans, store
from geo.gridplan.alternatives import alternatives
from geo.gridplan.codes import assign_codes
from geo.gridplan.districting import RegionDistricting, region_minus
from geo.gridplan.parallel import Parallelism, RegionJob, district_regions
from geo.gridplan.polygons import as_multipolygon
from geo.gridplan.proofs import ProofKind
from geo.gridplan.settings import GridPlanSettings, band
from geo.io import membership
from geo.settings import ServiceAreaSettings


@dataclass
class RedistrictParams:
    """What a redistricting request asks for."""

    target: float = 300
    tolerance: float = 0.15
    seed: int = 0
    barrier_weight: float = 0.02

    def __post_init__(self):
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise InvalidInput(f"seed must be an integer in 0..{2**32 - 1}, got {self.seed}")

    @classmethod
    def from_settings(cls, s: GridPlanSettings, **over) -> RedistrictParams:
        """Defaults from ``ONEMAP_GRID_*`` with explicit overrides (None ignored)."""
        base = {
            "target": s.grid_target,
            "tolerance": s.grid_tolerance,
            "seed": s.grid_seed,
            "barrier_weight": s.grid_barrier_weight,
        }
        base.update({k: v for k, v in over.items() if v is not None})
        return cls(**base)


def redistrict(
    engine: Engine,
    plan_id: int,
    params: RedistrictParams,
    actor: str = "system",
    communities: Sequence[str] | None = None,
    if_match: int | None = None,
    progress: Callable[[str], None] | None = None,
    parallel: Parallelism | None = None,
    *,
    area: ServiceAreaSettings,
) -> dict:
    """Redistrict ``communities`` (all by default) of draft ``plan_id``; a JSON-ready report.

    The plan is read once, every community is districted (in worker processes
    when ``parallel`` says the job is large enough), then all grids are written
    in a few set-based statements.
    """
    t0 = time.perf_counter()
    with engine.begin() as conn:
        plans.check_draft(conn, plan_id, if_match)
        codes = store.community_codes(conn, communities)
        proj = store.projector(conn, area)
        ctx = _Context.load(conn, plan_id, proj, codes)
        pieces = [_Piece.cut(ctx, code) for code in codes]
        todo = [p for p in pieces if not p.empty]
        jobs = [
            RegionJob(
                p.region,
                shapely.get_coordinates(p.bld.geometry.values),
                p.bld["households"].to_numpy(float),
                _near(ctx.barriers, p.region),
            )
            for p in todo
        ]
        t1 = time.perf_counter()
        make = RegionDistricting(
            params.target, params.tolerance, seed=params.seed, barrier_weight=params.barrier_weight
        )
        fits = district_regions(jobs, make, parallel)
        compute = time.perf_counter() - t1
        for p, rd in zip(todo, fits, strict=True):
            p.rd = rd
            if progress:
                progress(p.code)
        rows = _write(conn, plan_id, ctx, pieces, params)
        version = plans.bump(
            conn,
            plan_id,
            actor,
            "redistrict",
            {
                "communities": codes if communities is not None else "all",
                "target": params.target,
                "tolerance": params.tolerance,
                "seed": params.seed,
            },
        )
    return _report(plan_id, version, rows, params, time.perf_counter() - t0, compute)


@dataclass
class _Context:
    proj: Projector
    communities: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    members: dict[int, list[int]]
    barriers: np.ndarray

    @classmethod
    def load(cls, conn: Connection, plan_id: int, proj: Projector, codes: list[str]) -> _Context:
        return cls(
            proj=proj,
            communities=store.communities_frame(conn, proj, codes),
            buildings=store.buildings_frame(conn, plan_id, proj, codes),
            grids=store.grids_frame(conn, plan_id, proj),
            members=store.members_by_grid(conn, plan_id),
            barriers=store.barriers(conn, proj),
        )


@dataclass
class _Piece:
    """One community to redistrict: its free region, buildings and old grids."""

    code: str
    region: object
    bld: gpd.GeoDataFrame
    locked: gpd.GeoDataFrame
    old: gpd.GeoDataFrame
    rd: RegionDistricting | None = None
    previous: dict = field(default_factory=dict)  # old code → its buildings

    @property
    def empty(self) -> bool:
        return self.bld.empty or self.region.is_empty

    @classmethod
    def cut(cls, ctx: _Context, code: str) -> _Piece:
        geom = ctx.communities.geometry.values[(ctx.communities["code"] == code).values][0]
        g = ctx.grids
        mine = g[(g["community_code"] == code).values]
        is_locked = mine["locked"].astype(bool).values
        locked, old = mine[is_locked], mine[~is_locked]
        locked_members = {b for gid in locked.index for b in ctx.members.get(gid, [])}
        bld = ctx.buildings[(ctx.buildings["community_code"] == code).values]
        bld = bld[~bld.index.isin(list(locked_members))]
        region = region_minus(geom, locked.geometry.values)
        return cls(code, region, bld, locked, old)


def _write(conn: Connection, plan_id: int, ctx: _Context, pieces: list[_Piece], params) -> list:
    """Replace the old grids of every piece by its new ones; the report rows, in order."""
    store.delete_grids(conn, [i for p in pieces for i in p.old.index.tolist()])
    planned = []  # (piece, its new grid codes)
    grid_rows = []
    taken_all = set(ctx.grids["code"])
    for p in pieces:
        if p.empty:
            new_codes = _empty_codes(ctx, p, taken_all)
        else:
            new_codes = _codes(ctx, p, taken_all)
        lonlat = ctx.proj.to_lonlat(p.rd.polygons_) if not p.empty else _empty_polygons(ctx, p)
        grid_rows += [
            {"code": c, "community_code": p.code, "geom": as_multipolygon(g)}
            for c, g in zip(new_codes, lonlat, strict=True)
        ]
        planned.append((p, new_codes))
    code_to_id = store.insert_grids(conn, plan_id, grid_rows)
    b_ids, g_ids = [], []
    for p, new_codes in planned:
        if not new_codes:
            continue
        ids = [code_to_id[c] for c in new_codes]
        b_ids.append(p.bld.index.to_numpy())
        g_ids.append(np.asarray(ids)[p.rd.labels_] if not p.empty else np.full(len(p.bld), ids[0]))
    if b_ids:
        store.set_members(conn, plan_id, np.concatenate(b_ids), np.concatenate(g_ids))
    membership.refresh_stats(conn, plan_id, list(code_to_id.values()))
    rows = []
    for p, new_codes in planned:
        if p.empty:
            rows.append(_empty_row(p, bool(new_codes), params))
        else:
            rows.append(_row(p, new_codes, ctx, params))
    return rows


def _codes(ctx: _Context, p: _Piece, taken_all: set) -> list[str]:
    """Codes of the piece's new grids, kept where a grid's buildings did not change."""
    ids = p.bld.index.to_numpy()
    rd = p.rd
    members = [frozenset(ids[rd.labels_ == k].tolist()) for k in range(rd.n_grids_)]
    previous = {
        c: frozenset(ctx.members.get(gid, []))
        for gid, c in zip(p.old.index, p.old["code"], strict=True)
    }
    p.previous = previous
    taken = taken_all - set(p.old["code"])
    cents = shapely.get_coordinates(shapely.centroid(rd.polygons_))
    return assign_codes(p.code, cents, members, previous, taken)


def _row(p: _Piece, new_codes: list[str], ctx: _Context, params: RedistrictParams) -> dict:
    rd = p.rd
    ids = p.bld.index.to_numpy()
    lo, hi = band(params.target, params.tolerance)
    hh = rd.households_
    feas = rd.feasible_
    return {
        "community_code": p.code,
        "households": int(hh.sum()),
        "buildings": int(len(p.bld)),
        "grids": int(rd.n_grids_),
        "locked_grids": int(len(p.locked)),
        "feasible_grids": int(feas.sum()),
        "within_band": int(((hh >= lo) & (hh <= hi) & feas).sum()),
        "kept_codes": int(len(set(new_codes) & set(p.previous))),
        "crossing_edges_inside": rd.crossing_share(),
        "infeasible": [
            {
                "kind": d["kind"],
                "detail": d["detail"],
                "buildings": [int(ids[i]) for i in d["buildings"][:20]],
                "alternatives": alternatives(
                    d["kind"],
                    p.bld["households"].to_numpy(float),
                    params.target,
                    params.tolerance,
                    plan=rd.households_,
                ),
            }
            for d in rd.infeasible_
        ],
        "undecided_grids": _grids_of(rd, rd.undecided_),
        "undecided": [
            {"detail": d["detail"], "buildings": [int(ids[i]) for i in d["buildings"][:20]]}
            for d in rd.undecided_
        ],
        "seconds": round(rd.seconds_, 4),
    }


def _empty_codes(ctx: _Context, p: _Piece, taken_all: set) -> list[str]:
    """No buildings left to district: one grid covers what is left (none if nothing is)."""
    if p.region.is_empty or shapely.area(p.region) <= 1.0:
        return []
    return assign_codes(p.code, np.zeros((1, 2)), [frozenset()], {}, taken_all)


def _empty_polygons(ctx: _Context, p: _Piece) -> list:
    if p.region.is_empty or shapely.area(p.region) <= 1.0:
        return []
    return [ctx.proj.to_lonlat(p.region)]


def _empty_row(p: _Piece, has_grid: bool, params: RedistrictParams) -> dict:
    """The report of a community with nothing to district, reported as too small."""
    infeasible = []
    if has_grid:
        lo, _ = band(params.target, params.tolerance)
        infeasible.append(
            {
                "kind": ProofKind.COMMUNITY_TOO_SMALL,
                "detail": f"0 households < lower bound {lo:g}",
                "buildings": [],
            }
        )
    return {
        "community_code": p.code,
        "households": 0,
        "buildings": int(len(p.bld)),
        "grids": int(has_grid),
        "locked_grids": int(len(p.locked)),
        "feasible_grids": 0,
        "within_band": 0,
        "kept_codes": 0,
        "crossing_edges_inside": 0.0,
        "infeasible": infeasible,
        "undecided_grids": 0,
        "undecided": [],
        "seconds": 0.0,
    }


def _grids_of(rd: RegionDistricting, records: list[dict]) -> int:
    """Grids holding the buildings of ``records``."""
    if not records:
        return 0
    held = np.concatenate([np.asarray(d["buildings"], dtype=np.int64) for d in records])
    return int(len(np.unique(rd.labels_[held])))


def _near(barriers: np.ndarray, region) -> np.ndarray:
    if len(barriers) == 0:
        return barriers
    return barriers[shapely.intersects(barriers, shapely.envelope(region))]


def _report(plan_id, version, rows, params, seconds, compute) -> dict:
    feasible = sum(r["feasible_grids"] for r in rows)
    within = sum(r["within_band"] for r in rows)
    lo, hi = band(params.target, params.tolerance)
    return {
        "plan": plan_id,
        "version": version,
        "target": params.target,
        "tolerance": params.tolerance,
        "band": [lo, hi],
        "grids": sum(r["grids"] for r in rows),
        "feasible_grids": feasible,
        "within_band": within,
        "within_band_share": within / feasible if feasible else None,  # no feasible grid
        "infeasible": [
            {"community_code": r["community_code"], **d} for r in rows for d in r["infeasible"]
        ],
        # communities left outside the band that no proof explains (search budget spent)
        "undecided": [
            {"community_code": r["community_code"], **d} for r in rows for d in r["undecided"]
        ],
        "undecided_grids": sum(r["undecided_grids"] for r in rows),
        "seconds": round(seconds, 3),
        "compute_seconds": round(compute, 3),
        "communities": rows,
    }

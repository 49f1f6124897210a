"""Edits of a draft plan with optimistic locking.

Body of an edit (also the HTTP body)::

    {"op": "move",   "buildings": [ids], "to_grid": "CODE"}
    {"op": "split",  "grid": "CODE", "k": 2}
    {"op": "merge",  "grids": ["CODE", "CODE", ...]}
    {"op": "lock" | "unlock", "grid": "CODE"}

The caller names the plan version it saw; a stale version raises
:class:`~geo.errors.PlanConflict` and nothing changes. Moves, splits and merges
tile the touched grids' area again from their buildings, so a plan never gets
gaps or overlaps from an edit. Locked grids refuse every edit but ``unlock``.
"""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text

from geo.errors import Conflict, InvalidInput, NotFound
from geo.gridplan import plans, store
from geo.gridplan.codes import make_code, spatial_order
from geo.gridplan.districting import RegionDistricting
from geo.gridplan.evaluate import PlanEvaluation
from geo.gridplan.polygons import as_multipolygon, retile
from geo.gridplan.settings import GridPlanSettings
from geo.io import membership
from geo.settings import ServiceAreaSettings

OPS = ("move", "split", "merge", "lock", "unlock")
MAX_SPLIT = 20


def apply_edit(
    engine: Engine,
    plan_id: int,
    edit: dict,
    actor: str = "system",
    if_match: int | None = None,
    *,
    settings: GridPlanSettings,
    area: ServiceAreaSettings,
) -> dict:
    """Apply one edit; returns ``{version, op, touched, evaluation}``."""
    op = edit.get("op")
    if op not in OPS:
        raise InvalidInput(f"unknown edit op {op!r}; expected one of {', '.join(OPS)}")
    with engine.begin() as conn:
        plans.check_draft(conn, plan_id, if_match)
        proj = store.projector(conn, area)
        handler = {"move": _move, "split": _split, "merge": _merge, "lock": _lock, "unlock": _lock}[
            op
        ]
        touched, detail = handler(conn, plan_id, proj, edit, settings)
        membership.refresh_stats(conn, plan_id, touched)
        version = plans.bump(conn, plan_id, actor, op, detail)
        ev = evaluate_grids(conn, plan_id, proj, touched, settings)
    return {"plan": plan_id, "version": version, "op": op, **ev}


def evaluate_grids(
    conn: Connection, plan_id: int, proj, grid_ids, settings: GridPlanSettings
) -> dict:
    """Evaluation of some grids of a plan (against their communities' buildings)."""
    grids = store.grids_frame(conn, plan_id, proj, grid_ids=grid_ids)
    codes = sorted({c for c in grids["community_code"] if c})
    data = store.plan_data(conn, plan_id, proj, communities=codes)
    data.grids = grids
    ev = PlanEvaluation(
        settings.grid_target,
        settings.grid_tolerance,
        settings.grid_barrier_tolerance_m,
        exact=False,
    ).fit(data)
    out = ev.to_dict()
    return {
        "touched": list(grids["code"]),
        "evaluation": {"grids": out["grids"], "infeasible": out["infeasible"]},
    }


# -- helpers ------------------------------------------------------------------------
def _grid(conn: Connection, plan_id: int, code) -> dict:
    if not isinstance(code, str) or not code:
        raise InvalidInput("a grid code (string) is required")
    row = (
        conn.execute(
            text(
                "SELECT id, code, name, worker, community_code, locked FROM grids "
                "WHERE plan_id = :p AND code = :c"
            ),
            {"p": plan_id, "c": code},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"grid {code} is not in plan {plan_id}")
    return dict(row)


def _unlocked(g: dict) -> dict:
    if g["locked"]:
        raise Conflict(f"grid {g['code']} is locked; unlock it first")
    return g


def _retile_grids(conn, plan_id, proj, grid_ids: list[int]) -> list[int]:
    """Tile the union of ``grid_ids`` again from their members; drop grids left empty."""
    grids = store.grids_frame(conn, plan_id, proj, grid_ids=grid_ids)
    members = store.members_by_grid(conn, plan_id, grid_ids)
    alive = [gid for gid in grids.index if members.get(gid)]
    dead = [gid for gid in grids.index if not members.get(gid)]
    if not alive:
        return []
    region = shapely.union_all(grids.geometry.values)
    bld = store.buildings_frame(conn, plan_id, proj, grid_ids=alive)
    label_of = {gid: i for i, gid in enumerate(alive)}
    labels = np.array([label_of[int(g)] for g in bld["grid_id"]], dtype=np.int64)
    polys = retile(region, shapely.get_coordinates(bld.geometry.values), labels, len(alive))
    store.delete_grids(conn, dead)
    store.update_geometries(conn, alive, [as_multipolygon(p) for p in proj.to_lonlat(polys)])
    return alive


# -- operations ---------------------------------------------------------------------
def _move(conn, plan_id, proj, edit, settings):
    ids = edit.get("buildings")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        raise InvalidInput("move needs 'buildings': a non-empty list of building ids")
    target = _unlocked(_grid(conn, plan_id, edit.get("to_grid")))
    rows = (
        conn.execute(
            text("""
        SELECT b.id, m.grid_id, g.code, g.locked FROM buildings b
          LEFT JOIN grid_members m ON m.building_id = b.id AND m.plan_id = :p
          LEFT JOIN grids g ON g.id = m.grid_id
         WHERE b.id = ANY(:ids)
    """),
            {"p": plan_id, "ids": ids},
        )
        .mappings()
        .all()
    )
    missing = sorted(set(ids) - {r["id"] for r in rows})
    if missing:
        raise NotFound(f"unknown building id(s): {missing[:10]}")
    for r in rows:
        if r["locked"]:
            raise Conflict(f"building {r['id']} is in locked grid {r['code']}; unlock it first")
    sources = sorted({r["grid_id"] for r in rows if r["grid_id"] is not None} - {target["id"]})
    store.set_members(conn, plan_id, ids, [target["id"]] * len(ids))
    touched = _retile_grids(conn, plan_id, proj, sources + [target["id"]])
    return touched, {
        "buildings": ids,
        "to_grid": target["code"],
        "from_grids": sorted({r["code"] for r in rows if r["code"]}),
    }


def _split(conn, plan_id, proj, edit, settings):
    g = _unlocked(_grid(conn, plan_id, edit.get("grid")))
    k = edit.get("k", 2)
    if not isinstance(k, int) or not 2 <= k <= MAX_SPLIT:
        raise InvalidInput(f"split needs 'k', an integer from 2 to {MAX_SPLIT}")
    bld = store.buildings_frame(conn, plan_id, proj, grid_ids=[g["id"]])
    if len(bld) < k:
        raise InvalidInput(f"grid {g['code']} has {len(bld)} buildings; cannot split in {k}")
    geom = store.grids_frame(conn, plan_id, proj, grid_ids=[g["id"]]).geometry.values[0]
    rd = RegionDistricting(
        settings.grid_target, settings.grid_tolerance, seed=settings.grid_seed, n_parts=k
    ).fit(geom, shapely.get_coordinates(bld.geometry.values), bld["households"].to_numpy(float))
    codes = _split_codes(conn, plan_id, g, rd.polygons_)
    store.delete_grids(conn, [g["id"]])
    # Every part keeps the grid's worker; the part keeping the code keeps the name, the
    # others are named after it with their number (a planner renames them later).
    names = _split_names(g, codes)
    ids = store.insert_grids(
        conn,
        plan_id,
        [
            {"code": c, "name": n, "worker": g["worker"], "community_code": g["community_code"],
             "geom": as_multipolygon(p)}
            for c, n, p in zip(codes, names, proj.to_lonlat(rd.polygons_), strict=True)
        ],
    )
    grid_ids = [ids[c] for c in codes]
    store.set_members(conn, plan_id, bld.index.tolist(), np.asarray(grid_ids)[rd.labels_])
    return grid_ids, {"grid": g["code"], "k": k, "into": codes}


def _split_names(g: dict, codes: list[str]) -> list[str | None]:
    """The name of the split grid for the part keeping its code, ``name（n）`` for the others."""
    if not g["name"]:
        return [None] * len(codes)
    out, n = [], 1
    for c in codes:
        if c == g["code"]:
            out.append(g["name"])
        else:
            n += 1
            out.append(f"{g['name']}（{n}）")
    return out


def _split_codes(conn, plan_id, g, polys) -> list[str]:
    """First part (west→east, north→south) keeps the code; the others take free numbers."""
    taken = set(
        conn.execute(text("SELECT code FROM grids WHERE plan_id = :p"), {"p": plan_id}).scalars()
    )
    prefix = g["community_code"] or ""
    order = spatial_order(shapely.get_coordinates(shapely.centroid(polys)))
    codes = [""] * len(polys)
    codes[order[0]] = g["code"]
    seq = 0
    for i in order[1:]:
        seq += 1
        while make_code(prefix, seq) in taken:
            seq += 1
        codes[i] = make_code(prefix, seq)
        taken.add(codes[i])
    return codes


# The union of the merged grids, with the holes that are no other grid filled: shared edges
# that do not match to the last digit leave slivers between neighbours, and the union keeps
# them as zero-area holes (which evaluation then reports). A hole that is another grid of
# the plan (an enclave) stays.
_MERGE_SQL = text("""
    WITH parts AS (
        SELECT (ST_Dump(ST_CollectionExtract(ST_MakeValid(ST_UnaryUnion(ST_Collect(geom))), 3)))
               .geom AS part
        FROM grids WHERE id = ANY(:ids)
    ),
    shells AS (SELECT ST_MakePolygon(ST_ExteriorRing(part)) AS shell FROM parts),
    kept AS (
        SELECT coalesce(ST_Difference(s.shell, (
                   SELECT ST_Union(o.geom) FROM grids o
                   WHERE o.plan_id = :p AND NOT o.id = ANY(:ids) AND o.geom && s.shell
                     AND ST_CoveredBy(ST_PointOnSurface(o.geom), s.shell))), s.shell) AS geom
        FROM shells s
    )
    UPDATE grids SET geom = (
        SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(geom)), 3)) FROM kept)
    WHERE id = :keep
""")



def _merge(conn, plan_id, proj, edit, settings):
    codes = edit.get("grids")
    if not isinstance(codes, list) or len(set(codes)) < 2:
        raise InvalidInput("merge needs 'grids': at least two grid codes")
    grids = [_unlocked(_grid(conn, plan_id, c)) for c in sorted(set(codes))]
    keep, drop = grids[0], grids[1:]
    ids = [x["id"] for x in grids]
    conn.execute(_MERGE_SQL, {"ids": ids, "keep": keep["id"], "p": plan_id})
    conn.execute(
        text("UPDATE grid_members SET grid_id = :keep WHERE plan_id = :p AND grid_id = ANY(:ids)"),
        {"keep": keep["id"], "p": plan_id, "ids": ids},
    )
    store.delete_grids(conn, [x["id"] for x in drop])
    return [keep["id"]], {"grids": [x["code"] for x in grids], "into": keep["code"]}


def _lock(conn, plan_id, proj, edit, settings):
    g = _grid(conn, plan_id, edit.get("grid"))
    locked = edit["op"] == "lock"
    conn.execute(text("UPDATE grids SET locked = :l WHERE id = :id"), {"l": locked, "id": g["id"]})
    return [g["id"]], {"grid": g["code"], "locked": locked}

"""Plans as versions: list, create a draft as a copy, publish, version checks.

A plan is ``draft`` (editable), ``active`` (the one in force, at most one) or
``archived``. Every change to a draft bumps ``grid_plans.version`` and writes a
``plan_edits`` row; callers pass the version they saw (HTTP ``If-Match``) and a
stale one is refused with :class:`~geo.errors.PlanConflict` before anything
changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy import Connection, text

from geo import audit
from geo.errors import Conflict, InvalidInput, NotFound, PlanConflict
from geo.gridplan import store
from geo.io.membership import grid_of_points

#: ``progress(fraction, step)``: how far a long operation is (0–1) and what it does now.
Progress = Callable[[float, str], None]

PLAN_COLUMNS = (
    "id",
    "name",
    "status",
    "parent_id",
    "author",
    "note",
    "version",
    "created_at",
    "published_at",
)


def _public(row: dict) -> dict:
    out = {k: row.get(k) for k in PLAN_COLUMNS}
    for k in ("created_at", "published_at"):
        if out[k] is not None:
            out[k] = out[k].isoformat()
    return out


def list_plans(conn: Connection) -> list[dict]:
    """All plans, newest first, with grid and household counts."""
    rows = (
        conn.execute(
            text("""
        SELECT p.*, COALESCE(s.grids, 0) AS grids, COALESCE(s.households, 0) AS households
          FROM grid_plans p
          LEFT JOIN (SELECT plan_id, count(*) AS grids, sum(households) AS households
                       FROM grids GROUP BY plan_id) s ON s.plan_id = p.id
         ORDER BY p.id DESC
    """)
        )
        .mappings()
        .all()
    )
    return [
        {**_public(dict(r)), "grids": int(r["grids"]), "households": int(r["households"])}
        for r in rows
    ]


def get_plan(conn: Connection, plan_id: int) -> dict:
    """One plan with its counts; NotFound if absent."""
    for p in list_plans_by_id(conn, plan_id):
        return p
    raise NotFound(f"grid plan {plan_id} does not exist")


def list_plans_by_id(conn: Connection, plan_id: int) -> list[dict]:
    """The plan ``plan_id`` as a one-element list (empty when absent)."""
    row = (
        conn.execute(
            text("""
        SELECT p.*, (SELECT count(*) FROM grids g WHERE g.plan_id = p.id) AS grids,
               (SELECT COALESCE(sum(households), 0) FROM grids g
                 WHERE g.plan_id = p.id) AS households,
               (SELECT count(*) FROM grid_members m WHERE m.plan_id = p.id) AS members
          FROM grid_plans p WHERE p.id = :id
    """),
            {"id": plan_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        return []
    return [
        {
            **_public(dict(row)),
            "grids": int(row["grids"]),
            "households": int(row["households"]),
            "buildings": int(row["members"]),
        }
    ]


def create_plan(
    conn: Connection,
    name: str,
    from_plan: int | None = None,
    author: str = "system",
    note: str | None = None,
) -> int:
    """A new draft, empty or a copy of ``from_plan`` (grids, members, locks). Returns its id."""
    if not name or not name.strip():
        raise InvalidInput("a plan needs a name")
    if from_plan is not None:
        store.plan_row(conn, from_plan)
    new_id = conn.execute(
        text("""
        INSERT INTO grid_plans (name, status, parent_id, author, note)
        VALUES (:name, 'draft', :parent, :author, :note) RETURNING id
    """),
        {"name": name.strip(), "parent": from_plan, "author": author, "note": note},
    ).scalar_one()
    if from_plan is not None:
        copy_grids(conn, from_plan, new_id)
    _log(conn, new_id, 1, author, "create", {"from_plan": from_plan, "name": name})
    return new_id


def copy_grids(conn: Connection, src: int, dst: int) -> None:
    """Copy every grid and membership of plan ``src`` into plan ``dst``."""
    conn.execute(
        text("""
        INSERT INTO grids (plan_id, code, name, community_code, worker, locked, geom,
                           households, population, buildings)
        SELECT :dst, code, name, community_code, worker, locked, geom,
               households, population, buildings
          FROM grids WHERE plan_id = :src
         ORDER BY id  -- copies keep their originals' id order: fewer tie checks at publish
    """),
        {"src": src, "dst": dst},
    )
    conn.execute(
        text("""
        INSERT INTO grid_members (plan_id, building_id, grid_id)
        SELECT :dst, m.building_id, g2.id
          FROM grid_members m
          JOIN grids g1 ON g1.id = m.grid_id
          JOIN grids g2 ON g2.plan_id = :dst AND g2.code = g1.code
         WHERE m.plan_id = :src
    """),
        {"src": src, "dst": dst},
    )
    # The copy is a whole plan the statistics have not seen: without them the planner
    # takes it for one row and nests loops over it (minutes instead of seconds).
    conn.execute(text("ANALYZE grids, grid_members"))


def check_draft(
    conn: Connection, plan_id: int, if_match: int | None, lock: bool = True
) -> dict:
    """Lock the plan row and check it is a draft at version ``if_match`` (None: any).

    ``lock=False`` checks without the lock (a check ahead of the work, which locks).
    """
    row = store.plan_row(conn, plan_id, lock=lock)
    if if_match is not None and int(if_match) != row["version"]:
        raise PlanConflict(
            f"plan {plan_id} is at version {row['version']}, not {if_match}: reload and retry"
        )
    if row["status"] != "draft":
        raise Conflict(
            f"plan {plan_id} is {row['status']}; only drafts can change "
            "(create a draft from it first)"
        )
    return row


def bump(conn: Connection, plan_id: int, actor: str, kind: str, detail: dict) -> int:
    """Next version of the plan, with its ``plan_edits`` row and an audit entry."""
    version = conn.execute(
        text("UPDATE grid_plans SET version = version + 1 WHERE id = :id RETURNING version"),
        {"id": plan_id},
    ).scalar_one()
    _log(conn, plan_id, version, actor, kind, detail)
    return version


def _log(conn: Connection, plan_id: int, version: int, actor: str, kind: str, detail: dict) -> None:
    conn.execute(
        text("""
        INSERT INTO plan_edits (plan_id, version, actor, kind, detail)
        VALUES (:plan, :version, :actor, :kind, CAST(:detail AS jsonb))
    """),
        {
            "plan": plan_id,
            "version": version,
            "actor": actor,
            "kind": kind,
            "detail": json.dumps(detail, ensure_ascii=False, default=str),
        },
    )
    audit.record(
        conn, actor, f"grid_plan.{kind}", f"grid_plans/{plan_id}", {"version": version, **detail}
    )


def history(conn: Connection, plan_id: int) -> list[dict]:
    """The plan's edits, oldest first."""
    store.plan_row(conn, plan_id)
    rows = (
        conn.execute(
            text("""
        SELECT version, actor, at, kind, detail FROM plan_edits
         WHERE plan_id = :id ORDER BY id
    """),
            {"id": plan_id},
        )
        .mappings()
        .all()
    )
    return [{**dict(r), "at": r["at"].isoformat()} for r in rows]


def publish(
    conn: Connection,
    plan_id: int,
    actor: str,
    if_match: int | None = None,
    progress: Progress | None = None,
) -> dict:
    """Make a draft the active plan, archive the old one, re-assign incidents to its grids.

    All of it happens in the caller's transaction: a refused publish (stale
    ``if_match``, not a draft, no grids) raises before anything is written, and a
    failure later on leaves the transaction to be rolled back whole.

    Grids keep their identity across plans: a grid of the draft identical to one of
    the active plan (same community, same geometry) takes that grid's id, a changed
    one the id of the old grid it shares most buildings with, and the archived rows
    take the draft's ids in exchange (:func:`keep_grid_ids`). Incidents in kept
    grids then already point at the right row; only those of changed grids (and of
    kept grids a lower-id changed grid intersects) are looked up, and only those
    whose grid differs are written (:func:`reassign_incidents`).
    ``progress(fraction, step)`` is called between the steps. Returns the plan, the
    archived plan, ``grids_kept`` (unchanged), ``grids_changed`` and
    ``incidents_reassigned`` (rows whose ``grid_id`` changed).
    """
    report = progress or (lambda fraction, step: None)
    # One publish at a time: each archives the plan in force when it starts.
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('onemap.grid_plans.publish'))"))
    row, n_grids = check_publishable(conn, plan_id, if_match)
    conn.execute(text("SET LOCAL statement_timeout = 0"))
    old = store.active_plan_id(conn)
    report(0.05, "matching kept grids")
    changed = keep_grid_ids(conn, plan_id, old) if old is not None else None
    if old is not None:
        conn.execute(text("UPDATE grid_plans SET status = 'archived' WHERE id = :id"), {"id": old})
    conn.execute(
        text("""
        UPDATE grid_plans SET status = 'active', published_at = now() WHERE id = :id
    """),
        {"id": plan_id},
    )
    report(0.3, "re-assigning incidents of changed grids")
    moved = reassign_incidents(conn, plan_id, changed)
    kept = n_grids - (n_grids if changed is None else len(changed))
    report(0.9, "recording the version")
    detail = {
        "archived": old,
        "grids_kept": kept,
        "grids_changed": n_grids - kept,
        "incidents_reassigned": moved,
        "from_version": row["version"],
    }
    version = bump(conn, plan_id, actor, "publish", detail)
    return {"plan": plan_id, "version": version, **detail}


def check_publishable(
    conn: Connection, plan_id: int, if_match: int | None, lock: bool = True
) -> tuple[dict, int]:
    """The draft's row and grid count; raises what :func:`publish` would refuse with."""
    row = check_draft(conn, plan_id, if_match, lock)
    n_grids = conn.execute(
        text("SELECT count(*) FROM grids WHERE plan_id = :id"), {"id": plan_id}
    ).scalar_one()
    if n_grids == 0:
        raise Conflict(f"plan {plan_id} has no grids; nothing to publish")
    return row, n_grids


#: Pairs (grid of the active plan, grid of the draft) with the same community and the same
#: geometry, coordinate for coordinate (as copy_grids leaves them); a grid with more than one
#: such partner on either side is left unpaired (it is then treated as changed).
_TWINS = """
    CREATE TEMP TABLE publish_twins ON COMMIT DROP AS
    WITH cand AS (
        SELECT o.id AS old_id, n.id AS new_id,
               count(*) OVER (PARTITION BY o.id) AS n_old,
               count(*) OVER (PARTITION BY n.id) AS n_new
          FROM grids n
          JOIN grids o ON o.plan_id = :previous
                      AND o.community_code IS NOT DISTINCT FROM n.community_code
                      AND o.geom = n.geom
         WHERE n.plan_id = :plan
    )
    SELECT old_id, new_id, true AS same FROM cand WHERE n_old = 1 AND n_new = 1
"""

#: Grids of the draft and of the active plan left unpaired, in the same community, with the
#: buildings they share, most first: a changed grid takes the id of the old grid it shares
#: most buildings with (its successor), so the incidents that stay in it are not written.
_SUCCESSORS = """
    SELECT o.grid_id AS old_id, n.grid_id AS new_id, count(*) AS shared
      FROM grid_members n
      JOIN grid_members o ON o.plan_id = :previous AND o.building_id = n.building_id
      JOIN grids go ON go.id = o.grid_id
      JOIN grids gn ON gn.id = n.grid_id
     WHERE n.plan_id = :plan
       AND go.community_code IS NOT DISTINCT FROM gn.community_code
       AND n.grid_id NOT IN (SELECT new_id FROM publish_twins)
       AND o.grid_id NOT IN (SELECT old_id FROM publish_twins)
     GROUP BY o.grid_id, n.grid_id
     ORDER BY shared DESC, o.grid_id, n.grid_id
"""

# The swap goes through negative ids (ids are serial, so never negative): old -> -new,
# new -> old, -new -> new. The foreign keys onto grids.id are deferred for it (0010).
_SWAP = (
    "UPDATE grids g SET id = -t.new_id FROM publish_twins t WHERE g.id = t.old_id",
    "UPDATE grids g SET id = t.old_id FROM publish_twins t WHERE g.id = t.new_id",
    "UPDATE grids g SET id = t.new_id FROM publish_twins t WHERE g.id = -t.new_id",
    """UPDATE grid_members m SET grid_id = t.old_id FROM publish_twins t
        WHERE m.plan_id = :plan AND m.grid_id = t.new_id""",
    """UPDATE grid_members m SET grid_id = t.new_id FROM publish_twins t
        WHERE m.plan_id = :previous AND m.grid_id = t.old_id""",
)


def keep_grid_ids(conn: Connection, plan_id: int, previous: int) -> list[int]:
    """Give each grid of ``plan_id`` kept unchanged from ``previous`` the id it has there.

    A kept grid is one with the same community and the same geometry. Its row in
    ``previous`` takes the draft copy's id in exchange, and the memberships of both
    plans follow, so each plan keeps its grids, codes and buildings; only the ids
    trade places. Incidents pointing at the old grid then point at the same grid in
    the new plan without being written. A changed grid likewise takes the id of its
    successor, the unpaired old grid of its community it shares most buildings with
    (one each, greedily, most shared first): its incidents are looked up again, but
    only those that leave it are written. Returns the ids of the grids of
    ``plan_id`` that were not kept unchanged (changed, added, or of another
    community).
    """
    conn.execute(text("DROP TABLE IF EXISTS publish_twins"))
    params = {"plan": plan_id, "previous": previous}
    conn.execute(text(_TWINS), params)
    used_old: set[int] = set()
    used_new: set[int] = set()
    successors = []
    for old_id, new_id, _ in conn.execute(text(_SUCCESSORS), params).all():
        if old_id not in used_old and new_id not in used_new:
            used_old.add(old_id)
            used_new.add(new_id)
            successors.append({"o": old_id, "n": new_id})
    if successors:
        conn.execute(
            text("INSERT INTO publish_twins (old_id, new_id, same) VALUES (:o, :n, false)"),
            successors,
        )
    kept = conn.execute(text("SELECT count(*) FROM publish_twins")).scalar_one()
    if kept:
        conn.execute(text("SET CONSTRAINTS incidents_grid_id_fkey, grid_members_grid_id_fkey "
                          "DEFERRED"))
        for sql in _SWAP:
            conn.execute(text(sql), {"plan": plan_id, "previous": previous})
        conn.execute(text("SET CONSTRAINTS incidents_grid_id_fkey, grid_members_grid_id_fkey "
                          "IMMEDIATE"))  # checked here, inside publish, not at commit
    changed = conn.execute(
        text("""
        SELECT id FROM grids
         WHERE plan_id = :plan AND id NOT IN (SELECT old_id FROM publish_twins WHERE same)
         ORDER BY id
    """),
        {"plan": plan_id},
    ).scalars().all()
    conn.execute(text("DROP TABLE publish_twins"))
    return list(changed)


# Incidents whose stored grid may no longer be the lookup in :plan (the lowest id among the
# grids of :plan that intersect it; none outside every grid). Kept grids carry the id they
# had in the plan the incidents were assigned to (keep_grid_ids), so an incident of a kept
# grid K is its lookup still, unless a changed grid with a lower id than K intersects it
# (a lower kept grid holding the point would have been chosen then already). So the
# suspects are the incidents with no grid, with a grid of another plan, with a changed
# grid (a draft's until now: no lookup anyone made), or with a kept grid that a lower-id
# changed grid intersects.
_SUSPECTS = """
    WITH suspect AS (
        SELECT id FROM grids WHERE plan_id <> :plan
        UNION ALL
        SELECT unnest(CAST(:changed AS int[]))
        UNION ALL
        SELECT DISTINCT k.id
          FROM grids k
          JOIN grids c ON c.plan_id = :plan AND c.id = ANY(:changed) AND c.id < k.id
                      AND ST_Intersects(c.geom, k.geom)
         WHERE k.plan_id = :plan AND k.id <> ALL(:changed)
    )
    SELECT i.id, ST_X(i.geom), ST_Y(i.geom), i.grid_id
      FROM incidents i
     WHERE i.grid_id IS NULL OR i.grid_id = ANY(ARRAY(SELECT id FROM suspect))
     ORDER BY i.id
"""

# Write the new grids (-1: outside every grid) of the incidents that change, in id order.
_WRITE = """
    UPDATE incidents i
       SET grid_id = NULLIF(x.grid_id, -1)
      FROM unnest(CAST(:ids AS bigint[]), CAST(:grids AS int[])) AS x (id, grid_id)
     WHERE i.id = x.id
"""


# Every incident looked up in the whole plan (no trust in the stored grid_id).
_LOOKUP_ALL = """
    WITH target AS MATERIALIZED (
        SELECT i.id, (SELECT min(g.id) FROM grids g
                       WHERE g.plan_id = :plan AND ST_Intersects(g.geom, i.geom)) AS grid_id
          FROM incidents i
         ORDER BY i.id
    )
    UPDATE incidents i
       SET grid_id = x.grid_id
      FROM target x
     WHERE x.id = i.id AND i.grid_id IS DISTINCT FROM x.grid_id
"""


def reassign_incidents(
    conn: Connection, plan_id: int, changed: Sequence[int] | None = None
) -> int:
    """Point every incident at the grid of ``plan_id`` that holds it (NULL outside); set-based.

    The grid is the plain spatial lookup: the lowest-id grid of ``plan_id`` that
    ``ST_Intersects`` the incident. With ``changed`` None every incident is looked
    up. Otherwise ``changed`` lists the grids of ``plan_id`` that are new since the
    incidents were assigned, and every other grid of ``plan_id`` is trusted to be
    what it was then, under the same id (:func:`keep_grid_ids`): only incidents
    with no grid, a changed grid or a grid of another plan, and those of a kept grid
    that a changed grid with a lower id intersects, are looked up, in one vectorised
    join in GEOS (:func:`geo.io.membership.grid_of_points`, ``ST_Intersects``
    semantics, lowest id on shared edges). This trusts that a stored ``grid_id``
    was the lookup when it was written, which publishing and ingest keep true.

    Returns how many incidents' ``grid_id`` changed (rows written).
    """
    conn.execute(text("SET LOCAL statement_timeout = 0"))
    if changed is None:
        return conn.execute(text(_LOOKUP_ALL), {"plan": plan_id}).rowcount
    rows = conn.execute(text(_SUSPECTS), {"plan": plan_id, "changed": list(changed)}).all()
    if not rows:
        return 0
    ids, x, y, now = (np.array(c) for c in zip(*rows, strict=True))
    now = np.where(np.equal(now, None), -1, now).astype(np.int64)
    grid = grid_of_points(conn, plan_id, x.astype("float64"), y.astype("float64"))
    moved = grid != now
    if not moved.any():
        return 0
    return conn.execute(
        text(_WRITE), {"ids": ids[moved].tolist(), "grids": grid[moved].tolist()}
    ).rowcount

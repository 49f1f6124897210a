"""Plans as versions: list, create a draft as a copy, publish, version checks.

A plan is ``draft`` (editable), ``active`` (the one in force, at most one) or
``archived``. Every change to a draft bumps ``grid_plans.version`` and writes a
``plan_edits`` row; callers pass the version they saw (HTTP ``If-Match``) and a
stale one is refused with :class:`~geo.errors.PlanConflict` before anything
changes.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

from geo import audit
from geo.errors import Conflict, InvalidInput, NotFound, PlanConflict
from geo.gridplan import store

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


def check_draft(conn: Connection, plan_id: int, if_match: int | None) -> dict:
    """Lock the plan row and check it is a draft at version ``if_match`` (None: any)."""
    row = store.plan_row(conn, plan_id, lock=True)
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


def publish(conn: Connection, plan_id: int, actor: str, if_match: int | None = None) -> dict:
    """Make a draft the active plan, archive the old one, re-assign incidents to its grids.

    All of it happens in the caller's transaction: a refused publish (stale
    ``if_match``, not a draft, no grids) raises before anything is written, and a
    failure later on leaves the transaction to be rolled back whole.
    ``incidents_reassigned`` is what :func:`reassign_incidents` returns.
    """
    row = check_draft(conn, plan_id, if_match)
    n_grids = conn.execute(
        text("SELECT count(*) FROM grids WHERE plan_id = :id"), {"id": plan_id}
    ).scalar_one()
    if n_grids == 0:
        raise Conflict(f"plan {plan_id} has no grids; nothing to publish")
    old = store.active_plan_id(conn)
    if old is not None:
        conn.execute(text("UPDATE grid_plans SET status = 'archived' WHERE id = :id"), {"id": old})
    conn.execute(
        text("""
        UPDATE grid_plans SET status = 'active', published_at = now() WHERE id = :id
    """),
        {"id": plan_id},
    )
    moved = reassign_incidents(conn, plan_id, previous=old)
    version = bump(
        conn,
        plan_id,
        actor,
        "publish",
        {"archived": old, "incidents_reassigned": moved, "from_version": row["version"]},
    )
    return {"plan": plan_id, "archived": old, "incidents_reassigned": moved, "version": version}


# The grid of ``:plan`` holding each incident: the lowest id among its grids that
# intersect the incident (NULL outside every grid), worked out without a spatial
# test for incidents whose grid in ``:previous`` is unchanged.
#
# twin    each grid of :previous -> the lowest grid of :plan with the same community
#         and the same geometry (coordinate for coordinate, as copy_grids leaves it).
# rival   for such an old grid, the grids of :plan that could still take its
#         incidents from the twin: a lower id, intersecting the twin, and not itself the
#         twin of an old grid that came before (a point in that one would have been
#         given that old grid, not this one).
# hit     the lowest grid found by ST_Intersects for the incidents that need a
#         test: those of an old grid with rivals (against the rivals only) and those
#         with no grid or a grid outside :previous's twins (against the whole plan,
#         one GiST scan of incidents per grid).
# target  the twin or the hit, whichever is lower; in id order, so the UPDATE rewrites
#         the rows about in heap order (on the city demo 2 s of 24 saved against the
#         order a hash join leaves). Every row of an incident in a grid is rewritten
#         (ids are per plan): that write, not the lookup, is most of the time.
_REASSIGN = """
    WITH twin AS (
        SELECT DISTINCT ON (o.id) o.id AS old_id, n.id AS new_id
          FROM grids o
          JOIN grids n ON n.plan_id = :plan
                      AND n.community_code IS NOT DISTINCT FROM o.community_code
                      AND n.geom = o.geom
         WHERE o.plan_id = :previous
         ORDER BY o.id, n.id
    ),
    twin_of AS (
        SELECT new_id, min(old_id) AS old_id FROM twin GROUP BY new_id
    ),
    rival AS (
        SELECT t.old_id, g.id AS grid_id
          FROM twin t
          JOIN grids n ON n.id = t.new_id
          JOIN grids g ON g.plan_id = :plan AND g.id < t.new_id AND ST_Intersects(g.geom, n.geom)
          LEFT JOIN twin_of r ON r.new_id = g.id
         WHERE r.old_id IS NULL OR r.old_id > t.old_id
    ),
    hit AS (
        SELECT i.id, min(g.id) AS grid_id
          FROM incidents i
          JOIN rival v ON v.old_id = i.grid_id
          JOIN grids g ON g.id = v.grid_id AND ST_Intersects(g.geom, i.geom)
         GROUP BY i.id
        UNION ALL
        SELECT i.id, min(g.id)
          FROM grids g
          JOIN incidents i ON ST_Intersects(g.geom, i.geom)
         WHERE g.plan_id = :plan
           AND (i.grid_id IS NULL OR i.grid_id NOT IN (SELECT old_id FROM twin))
         GROUP BY i.id
    ),
    target AS MATERIALIZED (
        SELECT i.id, least(t.new_id, h.grid_id) AS grid_id
          FROM incidents i
          LEFT JOIN twin t ON t.old_id = i.grid_id
          LEFT JOIN hit h ON h.id = i.id
         ORDER BY i.id
    )
    UPDATE incidents i
       SET grid_id = x.grid_id
      FROM target x
     WHERE x.id = i.id AND i.grid_id IS DISTINCT FROM x.grid_id
"""


def reassign_incidents(conn: Connection, plan_id: int, previous: int | None = None) -> int:
    """Point every incident at the grid of ``plan_id`` that holds it (NULL outside); set-based.

    The grid is the plain spatial lookup: the lowest-id grid of ``plan_id`` that
    ``ST_Intersects`` the incident. ``previous`` is the plan whose grids the
    incidents point at now (the active plan being replaced); an incident in a
    grid of ``previous`` that ``plan_id`` keeps unchanged (same community, same
    geometry) follows it by a join, tested only against the lower-id grids that
    intersect that grid and could hold the incident first (changed grids, or kept
    ones whose id order flipped); every other incident is looked up. This trusts
    that a ``grid_id`` in ``previous`` is that plan's lookup, which publishing and
    ingest keep true. With ``previous=None`` every incident is looked up.

    Returns how many incidents' ``grid_id`` changed. Grid ids belong to one plan,
    so on publish that is every incident inside a grid of the new plan plus those
    that fell outside every grid; one outside every grid that had no grid keeps
    NULL and is not counted.
    """
    conn.execute(text("SET LOCAL statement_timeout = 0"))
    return conn.execute(text(_REASSIGN), {"plan": plan_id, "previous": previous}).rowcount

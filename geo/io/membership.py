"""Which grid things fall in: grid plans for imports, building memberships, incident grids.

Everything is set-based: memberships and late incident assignment are one SQL
statement each (joined through the GiST index on ``grids.geom``); the grids of a
batch of new incidents are found by one vectorised spatial join in GEOS
(:func:`grid_of_points`: an STRtree over the plan's grids, then prepared
point-in-polygon tests on the candidate pairs), which is several times faster
than probing the index once per row inside the INSERT.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from sqlalchemy import Connection, text

IMPORT_PLAN_NAME = "导入网格"


def active_plan(conn: Connection) -> int | None:
    """Id of the active grid plan, or None."""
    return conn.execute(text("SELECT id FROM grid_plans WHERE status = 'active'")).scalar()


def ensure_active_plan(conn: Connection, author: str = "import") -> int:
    """The active plan's id, creating an active plan named 导入网格 when there is none."""
    plan = active_plan(conn)
    if plan is not None:
        return plan
    return conn.execute(
        text(
            "INSERT INTO grid_plans (name, status, author, note, published_at) "
            "VALUES (:name, 'active', :author, 'created by a grid import', now()) RETURNING id"
        ),
        {"name": IMPORT_PLAN_NAME, "author": author},
    ).scalar_one()


def fill_members(conn: Connection, plan_id: int) -> int:
    """Assign buildings without a membership in ``plan_id`` to the grid holding them.

    A building belongs to the grid containing its point-on-surface. Returns how
    many memberships were added.
    """
    result = conn.execute(
        text(
            """
            INSERT INTO grid_members (plan_id, building_id, grid_id)
            SELECT :plan, b.id, g.id
            FROM buildings b
            CROSS JOIN LATERAL (
                SELECT g.id FROM grids g
                WHERE g.plan_id = :plan AND ST_Intersects(g.geom, ST_PointOnSurface(b.geom))
                ORDER BY g.id LIMIT 1
            ) g
            WHERE NOT EXISTS (
                SELECT 1 FROM grid_members m WHERE m.plan_id = :plan AND m.building_id = b.id
            )
            ON CONFLICT DO NOTHING
            """
        ),
        {"plan": plan_id},
    )
    # Buildings (or their households) changed: keep the per-grid figures current.
    refresh_stats(conn, plan_id)
    return result.rowcount


def assign_incident_grids(conn: Connection, plan_id: int) -> int:
    """Give incidents without a grid the grid of ``plan_id`` (the active plan) they fall in."""
    result = conn.execute(
        text(
            """
            UPDATE incidents i SET grid_id = x.grid_id
            FROM (
                SELECT DISTINCT ON (n.id) n.id, g.id AS grid_id
                FROM incidents n
                JOIN grids g ON g.plan_id = :plan AND ST_Intersects(g.geom, n.geom)
                WHERE n.grid_id IS NULL
                ORDER BY n.id, g.id
            ) x
            WHERE i.id = x.id
            """
        ),
        {"plan": plan_id},
    )
    return result.rowcount


def grid_of_points(conn: Connection, plan_id: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Id of the grid of ``plan_id`` each point falls in, ``-1`` where none.

    ``ST_Intersects`` semantics: a point on a shared edge goes to the lowest id.

    Examples
    --------
    The join on its own, without a database::

        >>> import numpy as np, shapely
        >>> grids = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
        >>> _join(np.array([10, 11]), grids, np.array([0.5, 1.0, 5.0]), np.zeros(3) + 0.5)
        array([10, 10, -1])
    """
    rows = conn.execute(
        text("SELECT id, ST_AsBinary(geom) FROM grids WHERE plan_id = :plan ORDER BY id"),
        {"plan": plan_id},
    ).all()
    if not rows:
        return np.full(len(x), -1, dtype=np.int64)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    grids = shapely.from_wkb([bytes(r[1]) for r in rows])
    return _join(ids, grids, np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64"))


def _join(ids: np.ndarray, grids: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    tree = shapely.STRtree(grids)
    pt, gi = tree.query(shapely.points(x, y))  # bounding-box candidates
    shapely.prepare(grids)
    hit = shapely.intersects_xy(grids[gi], x[pt], y[pt])
    best = np.full(len(x), len(ids), dtype=np.int64)
    np.minimum.at(best, pt[hit], gi[hit])  # grids are ordered by id: lowest index = lowest id
    out = np.full(len(x), -1, dtype=np.int64)
    found = best < len(ids)
    out[found] = ids[best[found]]
    return out


def refresh_stats(conn: Connection, plan_id: int, grid_ids: Sequence[int] | None = None) -> None:
    """Recompute the cached households / population / buildings of grids.

    Aggregated per grid from its own members (``grid_members_grid`` index), so
    the work is proportional to the grids asked for, whatever the planner's
    estimate for a plan created in this transaction.
    """
    only = "AND t.id = ANY(:ids)" if grid_ids is not None else ""
    conn.execute(
        text(f"""
        UPDATE grids g
           SET households = s.households, population = s.population, buildings = s.buildings
          FROM (SELECT t.id,
                       COALESCE(sum(b.households), 0)::int AS households,
                       COALESCE(sum(b.population), 0)::int AS population,
                       count(b.id)::int AS buildings
                  FROM grids t
                  LEFT JOIN grid_members m ON m.grid_id = t.id
                  LEFT JOIN buildings b ON b.id = m.building_id
                 WHERE t.plan_id = :plan {only}
                 GROUP BY t.id) s
         WHERE g.id = s.id
    """),
        {"plan": plan_id, "ids": [int(i) for i in (grid_ids or [])]},
    )

"""Which grid things fall in: grid plans for imports, building memberships, incident grids.

All set-based SQL: one statement per step, joined through the GiST index on
``grids.geom``; nothing runs per row in Python.
"""

from __future__ import annotations

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
    """Assign buildings without a membership in ``plan_id`` to the grid holding their
    point-on-surface. Returns how many memberships were added."""
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

"""The audit log: who changed which grid plan, who exported what (table ``audit_log``).

Call :func:`record` inside the transaction that makes the change, so the entry
and the change commit together::

    with engine.begin() as conn:
        ...  # change the plan
        audit.record(conn, actor, "grid_plan.publish", f"grid_plans/{plan_id}", {"version": 3})

The HTTP layer also records every successful write request and every data
export on its own (see ``api/auth.py``), so nothing that changes data through
the API goes unlogged even if a router forgets.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Engine, text

_INSERT = (
    "INSERT INTO audit_log (actor, action, target, detail) "
    "VALUES (:actor, :action, :target, CAST(:detail AS jsonb))"
)
INSERT_ASYNC = (
    "INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, $3, $4::jsonb)"
)


def _detail_json(detail: dict[str, Any] | None) -> str | None:
    return None if detail is None else json.dumps(detail, ensure_ascii=False, default=str)


def record(
    conn: Connection | Engine,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry (in ``conn``'s transaction, or its own one for an Engine)."""
    params = {"actor": actor, "action": action, "target": target, "detail": _detail_json(detail)}
    if isinstance(conn, Engine):
        with conn.begin() as c:
            c.execute(text(_INSERT), params)
    else:
        conn.execute(text(_INSERT), params)


async def record_async(pool, actor: str, action: str, target: str | None = None,
                       detail: dict[str, Any] | None = None) -> None:
    """:func:`record` over an asyncpg pool (its own transaction)."""
    await pool.execute(INSERT_ASYNC, actor, action, target, _detail_json(detail))

"""Changing a case (``PATCH``) and reading its history (table ``incident_history``).

The history rows are written by the database trigger of revision 0008 for every
change, whoever makes it (a PATCH, a file loaded with ``--on-conflict update``);
this module names the actor of its own transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, text

from geo.errors import InvalidInput, NotFound
from geo.layers import get_layer
from geo.params import parse_time

EDITABLE = ("status", "department", "dispatched_at", "due_at", "resolved_at", "closed_at",
            "satisfaction", "reopened", "routed_from", "subcategory")
# A status reached without its time gets the time of the change.
_STAMP = {"dispatched": ("dispatched_at",), "resolved": ("resolved_at",),
          "closed": ("resolved_at", "closed_at")}
_COLUMNS = ("id", "source", "external_id", "category", "subcategory", "occurred_at", "status",
            "department", "dispatched_at", "due_at", "resolved_at", "closed_at", "satisfaction",
            "reopened", "routed_from")


def _value(name: str, value, tz: str):
    fs = get_layer("incidents").fields[name]
    if value is None or value == "":
        if name == "reopened":
            raise InvalidInput("reopened must be a whole number ≥ 0")
        return None
    if fs.kind == "enum":
        out = fs.normalise(str(value))
        if out is None:
            raise InvalidInput(f"{name} {value!r} is not one of {', '.join(fs.choices)}")
        return out
    if fs.kind == "time":
        return parse_time(value, name, tz=tz)
    if fs.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{name} must be a whole number ≥ 0, not {value!r}")
        return value
    return str(value)


def clean_changes(changes: dict, tz: str) -> dict:
    """Validated, canonical values of the fields to change."""
    if not changes:
        raise InvalidInput(f"nothing to change; send any of {', '.join(EDITABLE)}")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"fields {', '.join(unknown)} cannot be changed; "
                           f"editable: {', '.join(EDITABLE)}")
    return {k: _value(k, v, tz) for k, v in changes.items()}


def patch_case(engine: Engine, source: str, external_id: str, changes: dict, *, actor: str,
               tz: str = "Asia/Shanghai", now: datetime | None = None) -> dict:
    """Apply ``changes`` to one case; returns the case and its history.

    A status of dispatched, resolved or closed without its time stamps the time
    of the change (``now``) where the case has none.

    Raises
    ------
    NotFound
        No case with this source and external_id.
    InvalidInput
        An unknown field or a bad value; a time before ``occurred_at``.
    """
    values = clean_changes(changes, tz)
    with engine.begin() as conn:
        row = conn.execute(text(
            "SELECT id, occurred_at, dispatched_at, resolved_at, closed_at FROM incidents "
            "WHERE source = :s AND external_id = :e FOR UPDATE"),
            {"s": source, "e": external_id}).mappings().first()
        if row is None:
            raise NotFound(f"no case {source}/{external_id}")
        stamp = now or conn.execute(text("SELECT now()")).scalar_one()
        for column in _STAMP.get(values.get("status"), ()):
            if column not in values and row[column] is None:
                values[column] = stamp
        for column in ("dispatched_at", "resolved_at", "closed_at"):
            t = values.get(column)
            if t is not None and t < row["occurred_at"]:
                raise InvalidInput(f"{column} {t.isoformat()} is before occurred_at "
                                   f"{row['occurred_at'].isoformat()}")
        conn.execute(text("SELECT set_config('onemap.actor', :a, true)"), {"a": actor})
        sets = ", ".join(f'"{k}" = :{k}' for k in values)
        conn.execute(text(f"UPDATE incidents SET {sets} WHERE id = :id"),
                     {**values, "id": row["id"]})
    return case_with_history(engine, source, external_id)


def case_with_history(engine: Engine, source: str, external_id: str) -> dict:
    """The case's current fields and its history, oldest change first."""
    with engine.connect() as conn:
        row = conn.execute(text(
            f"SELECT {', '.join(_COLUMNS)} FROM incidents "
            "WHERE source = :s AND external_id = :e"),
            {"s": source, "e": external_id}).mappings().first()
        if row is None:
            raise NotFound(f"no case {source}/{external_id}")
        history = conn.execute(text(
            "SELECT changed_at, actor, field, old_value, new_value FROM incident_history "
            "WHERE incident_id = :id ORDER BY id"), {"id": row["id"]}).mappings().all()
    case = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
    case["history"] = [{"changed_at": h["changed_at"].isoformat(), "actor": h["actor"],
                        "field": h["field"], "old": h["old_value"], "new": h["new_value"]}
                       for h in history]
    return case

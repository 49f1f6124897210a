"""Background jobs in the database: long work (a plan's publish) reported while it runs.

A job is one ``jobs`` row (migration 0010): ``queued`` → ``running`` → ``succeeded`` or
``failed``, with ``progress`` 0–1 and the current ``step``, its start and end, and its
``result`` or ``error`` (``{"detail", "code"}``, the shape of every API error). The work
itself runs in its own transaction; the job row is written in short transactions of
its own, so any process (any API worker) sees the progress while the work is not yet
committed, and a failed job leaves its work rolled back whole.

Examples
--------
The life of a job (``engine`` is a SQLAlchemy engine on a migrated database)::

    job = jobs.create(engine, "grid_plan.publish", "grid_plans/7", "planner")
    jobs.run(engine, job, lambda conn, progress: plans.publish(conn, 7, "planner",
                                                                progress=progress))
    jobs.get(engine, job)["state"]   # 'succeeded' (or 'failed', with its error)
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, text

from geo.errors import Conflict, NotFound, OnemapError

log = logging.getLogger(__name__)

#: ``work(conn, progress)``: runs in the job's transaction, reports ``progress(fraction, step)``.
Work = Callable[[Connection, Callable[[float, str], None]], dict]

_COLUMNS = ("id, kind, subject, actor, state, progress, step, created_at, started_at, "
            "finished_at, error, result")

# The runner holds this lock (two-int advisory space, apart from the one-bigint locks) in
# the work's transaction: a running job whose lock is free has lost its runner.
_LOCK = "pg_advisory_xact_lock(19190, hashtext(:id))"
_TRY_LOCK = "pg_try_advisory_xact_lock(19190, hashtext(:id))"
_INTERRUPTED = {"detail": "the job was interrupted (its process ended); nothing was changed",
                "code": "job_interrupted"}


def _public(row: Any) -> dict:
    out = dict(row._mapping)
    out["id"] = str(out["id"])
    for k in ("created_at", "started_at", "finished_at"):
        if out[k] is not None:
            out[k] = out[k].isoformat()
    return out


def create(engine: Engine, kind: str, subject: str, actor: str) -> str:
    """A new queued job; Conflict when a job of ``kind`` on ``subject`` is still open."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('onemap.jobs'))"))
        open_job = conn.execute(
            text("""
            SELECT id FROM jobs
             WHERE kind = :kind AND subject = :subject AND state IN ('queued', 'running')
        """),
            {"kind": kind, "subject": subject},
        ).scalar()
        if open_job is not None:
            raise Conflict(f"{subject} already has a {kind} job running: /api/v1/jobs/{open_job}")
        return str(
            conn.execute(
                text("""
                INSERT INTO jobs (kind, subject, actor) VALUES (:kind, :subject, :actor)
                RETURNING id
            """),
                {"kind": kind, "subject": subject, "actor": actor},
            ).scalar_one()
        )


def get(engine: Engine, job_id: str) -> dict:
    """The job as a JSON-ready dict; NotFound for an unknown or malformed id.

    A ``running`` job whose runner no longer holds its lock (the process ended
    mid-way; its transaction was rolled back) is failed here, with code
    ``job_interrupted``.
    """
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"no job {job_id}") from None
    with engine.begin() as conn:
        row = conn.execute(
            text(f"SELECT {_COLUMNS} FROM jobs WHERE id = :id"), {"id": key}
        ).first()
        if row is not None and row.state == "running" and conn.execute(
            text(f"SELECT {_TRY_LOCK}"), {"id": str(key)}
        ).scalar():
            row = conn.execute(
                text(f"""
                UPDATE jobs SET state = 'failed', finished_at = clock_timestamp(),
                       error = CAST(:error AS jsonb)
                 WHERE id = :id AND state = 'running'
             RETURNING {_COLUMNS}
            """),
                {"id": key, "error": json.dumps(_INTERRUPTED)},
            ).first() or row
    if row is None:
        raise NotFound(f"no job {job_id}")
    return _public(row)


def _set(engine: Engine, job_id: str, **fields: Any) -> None:
    with engine.begin() as conn:
        _update(conn, job_id, **fields)


def _update(conn: Connection, job_id: str, **fields: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in fields)
    for k in ("error", "result"):
        if k in fields:
            sets = sets.replace(f":{k}", f"CAST(:{k} AS jsonb)")
            fields[k] = json.dumps(fields[k], ensure_ascii=False, default=str)
    conn.execute(text(f"UPDATE jobs SET {sets} WHERE id = :id"), {"id": job_id, **fields})


def _error_of(job_id: str, exc: Exception) -> dict:
    """What a failed job says: a domain error's own detail and code, else the class only."""
    if isinstance(exc, OnemapError):
        return {"detail": exc.detail, "code": exc.code}
    log.error("job %s failed", job_id, exc_info=exc)
    return {"detail": f"the job failed ({type(exc).__name__}); nothing was changed",
            "code": "job_failed"}


def run(engine: Engine, job_id: str, work: Work) -> dict:
    """Run ``work`` in one transaction and record how it went; returns the job.

    A domain error (:class:`~geo.errors.OnemapError`) fails the job with its own
    detail and code; anything else fails it with code ``job_failed`` and a detail
    that names the exception class only (no SQL, no parameters). Either way the
    work's transaction is rolled back whole.
    """
    def progress(fraction: float, step: str) -> None:
        _set(engine, job_id, progress=min(max(float(fraction), 0.0), 1.0), step=step)

    try:
        with engine.begin() as conn:
            conn.execute(text(f"SELECT {_LOCK}"), {"id": job_id})
            _set(engine, job_id, state="running", started_at=_now(engine), step="starting")
            # The outcome is recorded in the work's transaction, under its lock (a failure
            # after rolling the work back to a savepoint): a job is never seen running
            # unlocked, so a reader never takes a failing job for an interrupted one.
            try:
                with conn.begin_nested():
                    result = work(conn, progress)
            except Exception as exc:  # noqa: BLE001 - a job must end in a state
                _update(conn, job_id, state="failed", finished_at=_now(engine),
                        error=_error_of(job_id, exc))
            else:
                conn.execute(
                    text("""
                    UPDATE jobs SET state = 'succeeded', progress = 1, step = 'done',
                           finished_at = clock_timestamp(), result = CAST(:result AS jsonb)
                     WHERE id = :id
                """),
                    {"id": job_id,
                     "result": json.dumps(result, ensure_ascii=False, default=str)},
                )
    except Exception as exc:  # noqa: BLE001 - the transaction itself broke (connection lost)
        _set(engine, job_id, state="failed", finished_at=_now(engine),
             error=_error_of(job_id, exc))
    return get(engine, job_id)


def _now(engine: Engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT clock_timestamp()")).scalar_one()

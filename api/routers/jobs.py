"""Background jobs over HTTP: ``GET /api/v1/jobs/{id}`` (see :mod:`geo.jobs`).

A route that starts long work (``POST /api/v1/grid-plans/{id}/publish``) answers
``202 Accepted`` with the job and ``Location: /api/v1/jobs/{id}``; clients poll that
until ``state`` is ``succeeded`` (``result``) or ``failed`` (``error``: detail, code).
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy import Engine

from api.deps import EngineDep
from api.models.jobs import Job
from geo import jobs

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])

JobId = Annotated[str, Path(max_length=64, description="job id (a UUID)")]


def location(job_id: str) -> str:
    """The path a client polls for the job."""
    return f"{router.prefix}/{job_id}"


def launch(engine: Engine, job_id: str, work: jobs.Work) -> None:
    """Run ``work`` as job ``job_id`` in a thread of this process; the request returns now."""
    threading.Thread(
        target=jobs.run, args=(engine, job_id, work), name=f"job-{job_id}", daemon=True
    ).start()


def accepted(response: Response, engine: Engine, job_id: str) -> dict:
    """The ``202`` answer to a request that started a job: the job and its ``Location``."""
    response.status_code = 202
    response.headers["Location"] = location(job_id)
    return jobs.get(engine, job_id)


@router.get("/{job}", response_model=Job, response_model_exclude_unset=True)
def job(job: JobId, engine: EngineDep) -> dict:
    """A job: state, progress 0–1, step, times, and its result or error."""
    return jobs.get(engine, job)

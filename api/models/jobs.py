"""Answers of the job routes: one background job (``geo.jobs``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.models.base import Answer


class JobError(Answer):
    """Why a job failed."""

    detail: str
    code: str


class Job(Answer):
    """A background job: what it does, how far it is, and how it ended."""

    id: str = Field(description="the job's UUID; poll /api/v1/jobs/{id}")
    kind: str = Field(description="what the job does, e.g. grid_plan.publish")
    subject: str = Field(description="what it works on, e.g. grid_plans/7")
    actor: str | None
    state: str = Field(description="queued, running, succeeded or failed")
    progress: int | float = Field(description="share done, 0 to 1")
    step: str | None = Field(description="what it is doing now")
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: JobError | None = Field(description="set when state is failed")
    result: dict[str, Any] | None = Field(description="set when state is succeeded")

"""Answers of the health routes."""

from __future__ import annotations

from pydantic import Field

from api.models.base import Answer


class Health(Answer):
    """The process answers."""

    status: str = Field(description="always ok")


class Ready(Answer):
    """The database is reachable and migrated."""

    status: str = Field(description="ready")
    revision: str | None = Field(description="the schema's migration revision")

"""Request dependencies that read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from api.state import AppState


def get_state(request: Request) -> AppState:
    """The running app's state."""
    return request.app.state.onemap


def get_engine(request: Request) -> Engine:
    """The SQLAlchemy engine of the running app."""
    return request.app.state.onemap.engine


StateDep = Annotated[AppState, Depends(get_state)]
EngineDep = Annotated[Engine, Depends(get_engine)]

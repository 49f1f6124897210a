"""Request dependencies that read like prose."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy import Engine

from api.state import AppState


def get_state(request: Request) -> AppState:
    """The running app's state."""
    return request.app.state.onemap


def get_engine(request: Request) -> Engine:
    """The SQLAlchemy engine of the running app."""
    return request.app.state.onemap.engine


T = TypeVar("T")


def app_object(request: Request, name: str, make: Callable[[], T]) -> T:
    """The app's long-lived object ``name`` (settings, a cache), made on first use."""
    st = request.app.state
    if getattr(st, name, None) is None:
        setattr(st, name, make())
    return getattr(st, name)


StateDep = Annotated[AppState, Depends(get_state)]
EngineDep = Annotated[Engine, Depends(get_engine)]

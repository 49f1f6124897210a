"""Who is calling and what they may do (filled in by the security issue).

Contract other modules rely on: ``current_role(request)`` returns one of
``admin``, ``planner``, ``viewer``, ``widget``; ``request.state.actor`` names
the caller for audit logs.
"""

from __future__ import annotations

from fastapi import Request

ROLES = ("admin", "planner", "viewer", "widget")


def current_role(request: Request) -> str:
    """The caller's role; open local mode is ``admin``."""
    return getattr(request.state, "role", "admin")


def current_actor(request: Request) -> str:
    """A name for audit logs."""
    return getattr(request.state, "actor", "local")

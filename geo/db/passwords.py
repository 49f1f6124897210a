"""Passwords of the embedded cluster: generated per install, kept in files only we can read.

Two files sit next to the cluster folder (``data/pg``): ``pg.password`` for the
service's role and ``pg.superuser.password`` for the cluster's superuser. Both are
created with mode 0600 (never world-readable, never in git) and tightened to 0600
when found looser.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from geo.settings import DatabaseSettings

MODE = 0o600


def service_file(settings: DatabaseSettings) -> Path:
    """Where the service role's password lives (``<cluster>.password``)."""
    d = settings.cluster_dir
    return d.parent / f"{d.name}.password"


def superuser_file(settings: DatabaseSettings) -> Path:
    """Where the superuser's password lives (``<cluster>.superuser.password``)."""
    d = settings.cluster_dir
    return d.parent / f"{d.name}.superuser.password"


def new_password() -> str:
    """A fresh random password (URL-safe, 32 characters, no quoting needed in SQL)."""
    return secrets.token_urlsafe(24)


def write(path: Path, password: str) -> None:
    """Replace ``path`` with ``password``; the file never exists with a looser mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, MODE)
    try:
        os.write(fd, password.encode())
    finally:
        os.close(fd)
    os.chmod(tmp, MODE)
    os.replace(tmp, path)


def read(path: Path, *, create: bool = True) -> str | None:
    """The password in ``path`` (made on first use when ``create``); None when absent."""
    if not path.exists():
        if not create:
            return None
        write(path, new_password())
    if path.stat().st_mode & 0o077:
        path.chmod(MODE)
    return path.read_text().strip()

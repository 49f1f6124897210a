"""``onemap keys create|list|revoke``: API keys for the HTTP service."""

from __future__ import annotations

import typer

app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


def _engine():
    from geo.db import cluster
    from geo.db.engine import make_engine
    from geo.settings import DatabaseSettings

    settings = DatabaseSettings()
    if settings.embedded:
        cluster.start(settings)
    return make_engine(settings)


def _guard(fn):
    """Turn database trouble into one clear line."""
    from sqlalchemy.exc import SQLAlchemyError

    from geo.errors import DatabaseUnavailable

    engine = _engine()
    try:
        return fn(engine)
    except SQLAlchemyError as exc:
        first = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        raise DatabaseUnavailable(f"database error: {first}") from exc
    finally:
        engine.dispose()


@app.command()
def create(
    role: str = typer.Option(..., "--role", help="admin | planner | viewer | widget"),
    name: str = typer.Option(None, "--name", help="who or what uses the key"),
) -> None:
    """Create a key and print it once (it cannot be shown again)."""
    from geo.keys import create_key

    key, secret = _guard(lambda e: create_key(e, role, name))
    typer.echo(f"created key {key.key_id} (role {key.role}); store it now, it is not shown again:",
               err=True)
    typer.echo(secret)


@app.command("list")
def list_cmd(
    active: bool = typer.Option(False, "--active", help="only keys not revoked"),
) -> None:
    """List keys (ids, names, roles, dates; never secrets)."""
    from rich.console import Console
    from rich.table import Table

    from geo.keys import list_keys

    keys = _guard(lambda e: list_keys(e, include_revoked=not active))
    table = Table("key_id", "role", "name", "created", "revoked", box=None)
    for k in keys:
        table.add_row(k.key_id, k.role, k.name or "", _when(k.created_at), _when(k.revoked_at))
    Console(width=120).print(table)
    if not keys:
        typer.echo("no keys: the service runs open on loopback only")


@app.command()
def revoke(key_id: str = typer.Argument(..., help="key id from `onemap keys list`")) -> None:
    """Revoke a key; requests using it fail at once."""
    from geo.keys import revoke_key

    key = _guard(lambda e: revoke_key(e, key_id))
    typer.echo(f"revoked key {key.key_id} (role {key.role}) at {_when(key.revoked_at)}")


def _when(t) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S%z") if t else ""

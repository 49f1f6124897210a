"""``onemap db up|down|status|url|migrate|dump|restore``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo.db import cluster, migrate
from geo.db.urls import sqlalchemy_url, url_string
from geo.errors import ClusterError
from geo.settings import DatabaseSettings

app = typer.Typer(
    help="The database: the embedded PostGIS cluster, migrations.", no_args_is_help=True
)


@app.command()
def up(port: Annotated[str | None, typer.Option(
        "--port", help="port for this cluster: a number, or auto (keep it when free, else "
                       "the next free one); remembered by the cluster")] = None) -> None:
    """Create (first time) and start the embedded PostGIS on 127.0.0.1 (port 55432)."""
    settings = DatabaseSettings()
    if not settings.embedded:
        typer.echo("ONEMAP_DATABASE_URL is set; nothing to start")
        return
    if port is not None:
        before = cluster.port(settings)
        chosen = cluster.choose_port(settings, port)
        if chosen != before:
            why = f"127.0.0.1:{before} is taken; " if port == "auto" else ""
            typer.echo(f"{why}this cluster now uses port {chosen}")
    typer.echo(str(cluster.start(settings)))


@app.command()
def down() -> None:
    """Stop the embedded PostGIS."""
    settings = DatabaseSettings()
    if not settings.embedded:
        raise ClusterError("ONEMAP_DATABASE_URL is set; the embedded cluster is not in use")
    typer.echo(str(cluster.stop(settings)))


@app.command()
def status() -> None:
    """Report whether the database is there and running."""
    settings = DatabaseSettings()
    if not settings.embedded:
        typer.echo(f"external database {sqlalchemy_url(settings).render_as_string()}")
        return
    st = cluster.status(settings)
    typer.echo(str(st))
    if not st.ok:
        raise typer.Exit(3)


@app.command()
def url() -> None:
    """Print the database URL (SQLAlchemy form) as the last line."""
    typer.echo(url_string(sqlalchemy_url(DatabaseSettings())))


@app.command("migrate")
def migrate_cmd() -> None:
    """Upgrade the schema to the newest revision (alembic upgrade head)."""
    settings = DatabaseSettings()
    if settings.embedded:
        cluster.start(settings)
    migrate.upgrade(settings)
    typer.echo(f"schema at revision {migrate.head_revision()}")


@app.command()
def dump(file: Annotated[Path, typer.Argument(help="dump file to write (custom format)")]) -> None:
    """Back up every table of the configured database to FILE."""
    from geo.db import backup

    summary = _with_spinner("dumping", lambda p: backup.dump(DatabaseSettings(), file, p))
    typer.echo(f"dumped {summary.tables} tables to {summary.path} ({summary.bytes:,} bytes)")


@app.command()
def restore(file: Annotated[Path, typer.Argument(help="file from `onemap db dump`")]) -> None:
    """Replace the configured database's contents with FILE (all or nothing)."""
    from geo.db import backup

    summary = _with_spinner("restoring", lambda p: backup.restore(DatabaseSettings(), file, p))
    typer.echo(f"restored {summary.tables} tables from {summary.path}")


def _with_spinner(what: str, job):
    """Run ``job(progress)`` showing the object being processed (on stderr)."""
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(what) as status:
        return job(lambda line: status.update(f"{what}: {line[:80]}"))

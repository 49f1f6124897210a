"""``onemap db up|down|status|url|migrate``."""

from __future__ import annotations

import typer

from geo.db import cluster, migrate
from geo.db.urls import sqlalchemy_url, url_string
from geo.errors import ClusterError
from geo.settings import DatabaseSettings

app = typer.Typer(help="The database: the embedded PostGIS cluster, migrations.", no_args_is_help=True)


@app.command()
def up() -> None:
    """Create (first time) and start the embedded PostGIS on 127.0.0.1:55432."""
    settings = DatabaseSettings()
    if not settings.embedded:
        typer.echo("ONEMAP_DATABASE_URL is set; nothing to start")
        return
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
    if not st.running:
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

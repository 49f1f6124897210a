"""``onemap demo``: generate the deterministic demo city and load it."""

from __future__ import annotations

from datetime import date

import typer

from geo.errors import InvalidInput


def _parse_end(value: str | None) -> date | None:
    """``YYYY-MM-DD`` → date (None stays None)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--end takes a date as YYYY-MM-DD, not {value!r}") from None


def command(
    size: str = typer.Option("city", "--size", help="small (tests), city (default) or large"),
    seed: int = typer.Option(42, "--seed", help="random seed; the same seed gives the same city"),
    replace: bool = typer.Option(False, "--replace", help="empty the data tables first"),
    if_empty: bool = typer.Option(False, "--if-empty",
                                  help="do nothing when buildings already exist"),
    end: str = typer.Option(None, "--end", help="last day (exclusive) of the 52 weeks of "
                                                "incidents, YYYY-MM-DD (default 2026-11-16)"),
) -> None:
    """Build the demo city near Zibo and load it; writes data/demo/SIZE/ground_truth.json."""
    from rich.console import Console

    from api.cli.database import open_engine
    from geo.db import cluster, migrate
    from geo.demo import DemoSettings, load_demo
    from geo.demo.spec import spec_for
    from geo.settings import DatabaseSettings

    spec_for(size)
    end_date = _parse_end(end)
    if seed < 0:
        raise InvalidInput("--seed must be a non-negative integer")
    settings = DatabaseSettings()
    console = Console(stderr=True)
    with open_engine(settings) as engine:
        if settings.embedded:
            cluster.start(settings)
        migrate.upgrade(settings)
        result = load_demo(engine, size, seed, settings=DemoSettings.from_env(),
                           data_dir=settings.data_dir, replace=replace, if_empty=if_empty,
                           end=end_date, progress=True, console=console)
    if result.skipped:
        typer.echo("demo: buildings already exist; nothing loaded (--if-empty)")
        return
    for report in result.reports:
        typer.echo(report.summary())
    for line in result.derived:
        typer.echo(line)
    typer.echo(f"ground truth: {result.truth_path}")

"""``onemap config reference``: the configuration reference from the settings classes."""

from __future__ import annotations

from pathlib import Path

import click
import typer

app = typer.Typer(help="The service's configuration (ONEMAP_* variables).",
                  no_args_is_help=True)


@app.command("reference")
def reference(
    write: Path | None = typer.Option(
        None, "--write", help="rewrite the section between the config-reference markers of "
                              "this file (README.md) instead of printing"),
) -> None:
    """Print (or write into README.md) every ONEMAP_ variable: type, default, meaning."""
    from api import config_reference as ref

    if write is None:
        typer.echo(ref.markdown(), nl=False)
        return
    try:
        changed = ref.write(write)
    except (OSError, ref.MissingMarkers) as exc:
        raise click.ClickException(f"{write}: {exc}") from None
    typer.echo(f"config reference: {write} {'updated' if changed else 'unchanged'}")

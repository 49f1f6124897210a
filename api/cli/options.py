"""Options that several commands share, so each is spelled and explained once."""

from __future__ import annotations

import typer

RES = typer.Option(None, "--res", help="H3 resolution 6..12 (default 9)")
K = typer.Option(None, "--k", help="k-ring neighbourhood 1..3 (default 1)")
FROM = typer.Option(None, "--from", help="ISO 8601 start (inclusive)")
TO = typer.Option(None, "--to", help="ISO 8601 end (exclusive; a date means its end)")
CATEGORY = typer.Option(None, "--category", help="comma-separated categories")
SOURCE = typer.Option(None, "--source", help="comma-separated sources")

"""``onemap grids ...``"""

from __future__ import annotations

import typer

app = typer.Typer(help="grids (to be filled in by its issue)", no_args_is_help=True)

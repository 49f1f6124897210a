"""Assemble the command tree from the area modules."""

from __future__ import annotations

from importlib import import_module

import typer

# (module, name): a module either exposes `app` (a Typer group) or `command` (one command).
GROUPS = [("api.cli.db", "db"), ("api.cli.keys", "keys"), ("api.cli.hotspots", "hotspots"),
          ("api.cli.coverage", "coverage"), ("api.cli.grids", "grids"),
          ("api.cli.response", "response"), ("api.cli.cases", "cases"),
          ("api.cli.batch", "batch"), ("api.cli.config", "config")]
COMMANDS = [("api.cli.load", "load"), ("api.cli.export", "export"), ("api.cli.demo", "demo"),
            ("api.cli.serve", "serve"), ("api.cli.index", "index"),
            ("api.cli.report", "report")]


def build() -> typer.Typer:
    """The root ``onemap`` Typer app."""
    root = typer.Typer(
        name="onemap",
        help="一张图 spatial governance service.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for module, name in GROUPS:
        mod = import_module(module)
        if hasattr(mod, "app"):
            root.add_typer(mod.app, name=name)
    for module, name in COMMANDS:
        mod = import_module(module)
        if hasattr(mod, "command"):
            root.command(name)(mod.command)
    return root

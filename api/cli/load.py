"""``onemap load LAYER FILE``: load a file into a layer, all-or-nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo.errors import InvalidInput

LAYER_HELP = "admin_areas, grids, buildings, cameras, incidents, roads or places"
#: How this command spells the load options that messages point at (geo.options).
FLAGS = {"mapping": "--map", "crs": "--crs", "encoding": "--encoding",
         "on_conflict": "--on-conflict", "reject_file": "--reject-file",
         "allow_outside": "--allow-outside"}


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """``["名称=name", …]`` → ``{"名称": "name", …}``."""
    mapping: dict[str, str] = {}
    for item in items or []:
        src, sep, dst = item.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise InvalidInput(f"--map takes SRC=DST (e.g. 名称=name), not {item!r}")
        mapping[src.strip()] = dst.strip()
    return mapping


def command(
    layer: Annotated[str, typer.Argument(help=LAYER_HELP)],
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage, Shapefile, FlatGeobuf, "
                                              "GeoParquet or CSV (lon/lat or x/y columns)")],
    crs: Annotated[str | None, typer.Option("--crs", help="the file's CRS: EPSG code, gcj02 "
                                                          "or bd09")] = None,
    mapping: Annotated[list[str] | None, typer.Option("--map", help="rename a column: SRC=DST "
                                                                    "(repeat)")] = None,
    on_conflict: Annotated[str, typer.Option("--on-conflict", help="skip or update rows whose "
                                                                   "key exists")] = "skip",
    reject_file: Annotated[Path | None, typer.Option(
        "--reject-file", help="write bad rows here (with a reason) and load the rest")] = None,
    allow_outside: Annotated[bool, typer.Option(
        "--allow-outside", help="accept features far outside the service area")] = False,
    encoding: Annotated[str | None, typer.Option(
        "--encoding", help="text encoding of a CSV (default UTF-8)")] = None,
) -> None:
    """Load FILE into LAYER (validated; nothing is written if a row is bad)."""
    from api.cli.database import open_engine
    from geo.coverage.hooks import after_report
    from geo.coverage.settings import CoverageSettings
    from geo.io.load import load_file
    from geo.io.settings import IngestSettings
    from geo.layers import get_layer
    from geo.options import spelled
    from geo.settings import ServiceAreaSettings

    get_layer(layer)
    area = ServiceAreaSettings()
    with open_engine() as engine, spelled(FLAGS):
        report = load_file(engine, layer, file, crs=crs, mapping=parse_mapping(mapping),
                           on_conflict=on_conflict, reject_file=reject_file,
                           allow_outside=allow_outside, progress=True, encoding=encoding,
                           area=area, settings=IngestSettings())
        after_report(engine, report, settings=CoverageSettings(), area=area)
    for message in report.messages[:20]:
        typer.echo(f"  {message}", err=True)
    if len(report.messages) > 20:
        typer.echo(f"  … and {len(report.messages) - 20} more notes", err=True)
    typer.echo(report.summary())

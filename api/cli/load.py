"""``onemap load LAYER FILE``: load a file into a layer, all-or-nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo.errors import InvalidInput

LAYER_HELP = "admin_areas, grids, buildings, cameras, incidents, roads or places"


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
    from sqlalchemy.exc import OperationalError

    from geo.coverage.settings import CoverageSettings
    from geo.db.engine import make_engine
    from geo.errors import DatabaseUnavailable
    from geo.io.load import load_file
    from geo.io.settings import IngestSettings
    from geo.layers import get_layer
    from geo.settings import DatabaseSettings, ServiceAreaSettings

    get_layer(layer)
    engine = make_engine(DatabaseSettings())
    try:
        report = load_file(engine, layer, file, crs=crs, mapping=parse_mapping(mapping),
                           on_conflict=on_conflict, reject_file=reject_file,
                           allow_outside=allow_outside, progress=True, encoding=encoding,
                           area=ServiceAreaSettings(), settings=IngestSettings(),
                           coverage=CoverageSettings())
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot reach the database ({str(exc.orig).strip().splitlines()[0]}); "
            "start it with `onemap db up`"
        ) from None
    finally:
        engine.dispose()
    for message in report.messages[:20]:
        typer.echo(f"  {message}", err=True)
    if len(report.messages) > 20:
        typer.echo(f"  … and {len(report.messages) - 20} more notes", err=True)
    typer.echo(report.summary())

"""``onemap load LAYER FILE``: load a file into a layer, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import typer

from geo.errors import InvalidInput


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
    layer: str = typer.Argument(..., help="admin_areas, grids, buildings, cameras, incidents, "
                                          "roads or places"),
    file: Path = typer.Argument(..., help="GeoJSON, GeoPackage, Shapefile, FlatGeobuf, "
                                          "GeoParquet or CSV (lon/lat or x/y columns)"),
    crs: str = typer.Option(None, "--crs", help="the file's CRS: EPSG code, gcj02 or bd09"),
    mapping: list[str] = typer.Option(None, "--map", help="rename a column: SRC=DST (repeat)"),
    on_conflict: str = typer.Option("skip", "--on-conflict",
                                    help="skip or update rows whose key exists"),
    reject_file: Path = typer.Option(None, "--reject-file",
                                     help="write bad rows here (with a reason) and load the rest"),
    allow_outside: bool = typer.Option(False, "--allow-outside",
                                       help="accept features far outside the service area"),
    encoding: str = typer.Option(None, "--encoding", help="text encoding of a CSV (default UTF-8)"),
) -> None:
    """Load FILE into LAYER (validated; nothing is written if a row is bad)."""
    from sqlalchemy.exc import OperationalError

    from geo.db.engine import make_engine
    from geo.errors import DatabaseUnavailable
    from geo.io.load import load_file
    from geo.layers import get_layer
    from geo.settings import DatabaseSettings

    get_layer(layer)
    settings = DatabaseSettings()
    engine = make_engine(settings)
    try:
        report = load_file(engine, layer, file, crs=crs, mapping=parse_mapping(mapping),
                           on_conflict=on_conflict, reject_file=reject_file,
                           allow_outside=allow_outside, progress=True, encoding=encoding)
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

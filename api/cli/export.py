"""``onemap export LAYER FILE``: write a layer in any supported format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.database import open_engine
from api.cli.load import LAYER_HELP


def command(
    layer: Annotated[str, typer.Argument(help=LAYER_HELP)],
    file: Annotated[Path, typer.Argument(help="target; the suffix picks the format "
                                              "(.geojson .gpkg .shp .fgb .parquet .csv)")],
    crs: Annotated[str | None, typer.Option("--crs", help="write in this CRS: EPSG code, gcj02 "
                                                          "or bd09")] = None,
) -> None:
    """Export LAYER to FILE (CSV: points as lon/lat, other shapes as WKT)."""
    from geo.io.export import export_layer
    from geo.layers import get_layer
    from geo.settings import LocalTimeSettings

    get_layer(layer)
    with open_engine() as engine:
        n = export_layer(engine, layer, file, timezone=LocalTimeSettings().local_timezone,
                         crs=crs)
    typer.echo(f"{layer}: wrote {n} rows to {file}")

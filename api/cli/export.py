"""``onemap export LAYER FILE``: write a layer in any supported format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.load import LAYER_HELP


def command(
    layer: Annotated[str, typer.Argument(help=LAYER_HELP)],
    file: Annotated[Path, typer.Argument(help="target; the suffix picks the format "
                                              "(.geojson .gpkg .shp .fgb .parquet .csv)")],
    crs: Annotated[str | None, typer.Option("--crs", help="write in this CRS: EPSG code, gcj02 "
                                                          "or bd09")] = None,
) -> None:
    """Export LAYER to FILE (CSV: points as lon/lat, other shapes as WKT)."""
    from sqlalchemy.exc import OperationalError

    from geo.db.engine import make_engine
    from geo.errors import DatabaseUnavailable
    from geo.io.export import export_layer
    from geo.layers import get_layer
    from geo.settings import DatabaseSettings, LocalTimeSettings

    get_layer(layer)
    engine = make_engine(DatabaseSettings())
    try:
        n = export_layer(engine, layer, file, timezone=LocalTimeSettings().local_timezone,
                         crs=crs)
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot reach the database ({str(exc.orig).strip().splitlines()[0]}); "
            "start it with `onemap db up`"
        ) from None
    finally:
        engine.dispose()
    typer.echo(f"{layer}: wrote {n} rows to {file}")

"""``onemap export LAYER FILE``: write a layer in any supported format."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    layer: str = typer.Argument(..., help="admin_areas, grids, buildings, cameras, incidents, "
                                          "roads or places"),
    file: Path = typer.Argument(..., help="target; the suffix picks the format "
                                          "(.geojson .gpkg .shp .fgb .parquet .csv)"),
    crs: str = typer.Option(None, "--crs", help="write in this CRS: EPSG code, gcj02 or bd09"),
) -> None:
    """Export LAYER to FILE (CSV: points as lon/lat, other shapes as WKT)."""
    from geo.db.engine import make_engine
    from geo.io.export import export_layer
    from geo.layers import get_layer
    from geo.settings import DatabaseSettings

    get_layer(layer)
    engine = make_engine(DatabaseSettings())
    try:
        n = export_layer(engine, layer, file, crs=crs)
    finally:
        engine.dispose()
    typer.echo(f"{layer}: wrote {n} rows to {file}")

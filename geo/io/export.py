"""Export a layer to a file in any supported format, with the canonical field names.

What comes out loads back in unchanged (``onemap load`` of an export adds nothing,
and a load into an empty database reproduces the rows). Grids are exported from
the active plan.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine, text

from geo.crs import from_wgs84, parse_crs
from geo.errors import InvalidInput
from geo.io.membership import active_plan
from geo.io.write import write_frame
from geo.layers import LayerSpec, get_layer


def _select(spec: LayerSpec, fields: list[str]) -> str:
    cols = ", ".join(f'"{f}"' for f in fields)
    where = "WHERE plan_id = :plan" if spec.hooks.per_plan else ""
    return f"SELECT {cols}, ST_AsBinary(geom) AS wkb FROM {spec.name} {where} ORDER BY id"


def read_layer(engine: Engine, layer: str) -> gpd.GeoDataFrame:
    """All rows of ``layer`` (grids: of the active plan) with canonical columns, EPSG:4326."""
    spec = get_layer(layer)
    fields = list(spec.fields)
    with engine.connect() as conn:
        params = {}
        if spec.hooks.per_plan:
            plan = active_plan(conn)
            if plan is None:
                raise InvalidInput("no active grid plan to export grids from")
            params["plan"] = plan
        result = conn.execute(text(_select(spec, fields)), params)
        table = pd.DataFrame(result.fetchall(), columns=[*fields, "wkb"])
    geoms = shapely.from_wkb(table.pop("wkb").map(bytes).to_numpy()) if len(table) else []
    for name, fs in spec.fields.items():
        if fs.kind == "time":
            table[name] = pd.to_datetime(table[name], utc=True)
        elif fs.kind == "int":
            table[name] = table[name].astype("Int64")
        elif fs.kind == "float":
            table[name] = table[name].astype("float64")
        elif fs.kind == "bool":
            table[name] = table[name].astype("boolean")
        else:
            table[name] = table[name].astype(object)
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, index=table.index), crs=4326)


def export_layer(engine: Engine, layer: str, path: str | Path, *, timezone: str,
                 crs: str | None = None) -> int:
    """Write ``layer`` to ``path`` (format from the suffix); returns the row count.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    layer : str
        Layer name.
    path : path-like
        Target file, replaced when it exists.
    timezone : str
        Local time zone of the written times (the service's ``ONEMAP_LOCAL_TIMEZONE``).
    crs : str, optional
        Target CRS (EPSG code, ``gcj02`` or ``bd09``); WGS84 when None.
    """
    spec = get_layer(layer)
    frame = from_wgs84(read_layer(engine, layer), parse_crs(crs))
    times = [f for f, fs in spec.fields.items() if fs.kind == "time"]
    write_frame(frame, path, time_columns=times, tz=timezone)
    return len(frame)

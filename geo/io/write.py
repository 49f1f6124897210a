"""Write a GeoDataFrame in any supported format (exports and reject files).

CSV follows ARCHITECTURE.md §3: points as ``lon``/``lat`` columns (``x``/``y`` when the
CRS is projected), other geometries as WKT in a ``geometry`` column, at full
precision. Times are written as ISO 8601 with the local offset in text formats
and kept as timestamps in GeoParquet.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidInput
from geo.io.read import file_format

_DRIVERS = {"geojson": "GeoJSON", "geojsonseq": "GeoJSONSeq", "gpkg": "GPKG",
            "shp": "ESRI Shapefile", "fgb": "FlatGeobuf"}
_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix")


def iso_times(values: pd.Series, tz: str) -> pd.Series:
    """Timestamps as ISO 8601 text with offset, e.g. ``2024-05-01T08:30:00+08:00``."""
    s = pd.to_datetime(values, utc=True)
    local = s.dt.tz_convert(tz)
    base = local.dt.strftime("%Y-%m-%dT%H:%M:%S")
    us = local.dt.microsecond
    frac = pd.Series(np.where(us > 0, "." + us.astype("string").str.zfill(6), ""), index=s.index)
    off = local.dt.strftime("%z")
    off = off.str[:3] + ":" + off.str[3:]
    out = base + frac + off
    return out.astype(object).where(s.notna(), None)


def _remove(path: Path, fmt: str) -> None:
    if fmt == "shp":
        for suffix in _SIDECARS:
            path.with_suffix(suffix).unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def write_frame(frame: gpd.GeoDataFrame, path: str | Path, *, time_columns=(),
                tz: str = "Asia/Shanghai") -> None:
    """Write ``frame`` to ``path`` in the format its suffix names (replacing the file).

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        Rows to write; its CRS is written where the format stores one.
    path : path-like
        Target file; the suffix picks the format.
    time_columns : sequence of str
        Timestamp columns, written as ISO 8601 text outside GeoParquet.
    tz : str
        Zone of the offsets written in text times.
    """
    path = Path(path)
    fmt = file_format(path)
    if fmt == "shp" and path.suffix.lower() == ".zip":
        raise InvalidInput("write Shapefiles as .shp (zipped output is not supported)")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    if fmt != "parquet":
        for col in time_columns:
            if col in out.columns:
                out[col] = iso_times(out[col], tz)
    _remove(path, fmt)
    if fmt == "csv":
        _csv_table(out).to_csv(path, index=False)
    elif fmt == "parquet":
        out.to_parquet(path, index=False)
    else:
        _check_single_type(out, fmt)
        with warnings.catch_warnings():
            # Shapefile truncates long field names; the reader maps them back.
            warnings.filterwarnings("ignore", message=".*(truncated|laundered).*")
            out.to_file(path, driver=_DRIVERS[fmt], engine="pyogrio")


def _csv_table(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    geoms = np.asarray(frame.geometry.values, dtype=object)
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    kinds = set(frame.geometry.geom_type.dropna().unique())
    if kinds <= {"Point"}:
        projected = frame.crs is not None and frame.crs.is_projected
        xname, yname = ("x", "y") if projected else ("lon", "lat")
        table[xname] = shapely.get_x(geoms)
        table[yname] = shapely.get_y(geoms)
    else:
        table["geometry"] = shapely.to_wkt(geoms, rounding_precision=-1)
    return table


def _check_single_type(frame: gpd.GeoDataFrame, fmt: str) -> None:
    if fmt != "shp" or frame.empty:
        return
    kinds = {k.replace("Multi", "") for k in frame.geometry.geom_type.dropna().unique()}
    if len(kinds) > 1:
        raise InvalidInput(
            f"a Shapefile holds one geometry type, these rows have {', '.join(sorted(kinds))}: "
            "write GeoPackage (.gpkg) or GeoJSON instead"
        )

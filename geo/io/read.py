"""Read any supported file into a GeoDataFrame, with one clear error when it can't.

Formats are chosen by suffix: GeoJSON (``.geojson``, ``.json``), GeoJSON lines
(``.geojsonl``, ``.ndjson``), GeoPackage (``.gpkg``), Shapefile (``.shp`` or a
``.zip`` holding one), FlatGeobuf (``.fgb``), GeoParquet (``.parquet``,
``.geoparquet``) and CSV (``.csv``, ``.tsv``) with ``lon``/``lat`` or ``x``/``y``
columns, or WKT in a ``geometry`` column.

Times are read as text (``datetime_as_string``) so offsets survive and the
validator parses every format the same way.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import FileFormatError
from geo.layers import LayerSpec, shapefile_names
from geo.options import option

SUFFIXES = {
    ".geojson": "geojson", ".json": "geojson", ".geojsonl": "geojsonseq",
    ".geojsons": "geojsonseq", ".ndjson": "geojsonseq", ".gpkg": "gpkg", ".shp": "shp",
    ".zip": "shp", ".fgb": "fgb", ".parquet": "parquet", ".geoparquet": "parquet",
    ".csv": "csv", ".tsv": "csv",
}
LON_NAMES = ("lon", "lng", "longitude", "经度", "x")
LAT_NAMES = ("lat", "latitude", "纬度", "y")
WKT_NAMES = ("geometry", "wkt", "geom")


def file_format(path: Path) -> str:
    """The format name for a path, from its suffix.

    Raises
    ------
    FileFormatError
        For suffixes no reader handles.
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        known = ", ".join(sorted(SUFFIXES))
        raise FileFormatError(
            f"{path.name}: unsupported file type {suffix or '(none)'}; use {known}"
        )
    return SUFFIXES[suffix]


def read_frame(
    path: str | Path,
    *,
    mapping: dict[str, str] | None = None,
    layer: LayerSpec | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a file as a GeoDataFrame with columns renamed by ``mapping``.

    Parameters
    ----------
    path : path-like
        The file.
    mapping : dict, optional
        Source column → canonical column (``--map 名称=name``).
    layer : LayerSpec, optional
        Used to undo Shapefile's 10-character field names.
    encoding : str, optional
        Text encoding of CSV files (default UTF-8, with or without BOM).

    Returns
    -------
    geopandas.GeoDataFrame
        ``attrs["format"]`` names the format; ``attrs["xy_columns"]`` the columns
        point geometries were built from (CSV).
    """
    path = Path(path)
    fmt = file_format(path)
    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise FileFormatError(f"{path.name}: the file is empty")
    if fmt == "csv":
        frame = _read_csv(path, mapping or {}, encoding)
    elif fmt == "parquet":
        frame = _rename(_read_parquet(path), mapping)
    else:
        frame = _rename(_read_ogr(path, fmt), mapping)
        if fmt == "shp" and layer is not None:
            frame = frame.rename(columns=shapefile_names(layer))
    frame.attrs["format"] = fmt
    return frame


def _rename(frame: gpd.GeoDataFrame, mapping: dict[str, str] | None) -> gpd.GeoDataFrame:
    if not mapping:
        return frame
    missing = [src for src in mapping if src not in frame.columns]
    if missing:
        raise FileFormatError(
            f"{option('mapping')} names column(s) {', '.join(missing)} that the file does not have "
            f"(it has: {', '.join(map(str, frame.columns))})"
        )
    return frame.rename(columns=mapping)


def _read_ogr(path: Path, fmt: str) -> gpd.GeoDataFrame:
    import pyogrio

    source = f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)
    try:
        return pyogrio.read_dataframe(source, datetime_as_string=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            pyogrio.errors.FieldError, ValueError, RuntimeError) as exc:
        raise FileFormatError(f"{path.name}: cannot read as {fmt}: {_first_line(exc)}") from None


def _read_parquet(path: Path) -> gpd.GeoDataFrame:
    try:
        return gpd.read_parquet(path)
    except ValueError as exc:
        if "geo" not in str(exc).lower():
            raise FileFormatError(
                f"{path.name}: cannot read as GeoParquet: {_first_line(exc)}"
            ) from None
        # A plain Parquet table with lon/lat columns.
        table = pd.read_parquet(path)
        return _frame_from_table(table, path)
    except Exception as exc:  # pyarrow raises many kinds for broken files
        raise FileFormatError(
            f"{path.name}: cannot read as GeoParquet: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _decode(path: Path, encoding: str | None) -> str:
    raw = path.read_bytes()
    enc = encoding or "utf-8-sig"
    try:
        return raw.decode(enc)
    except LookupError:
        raise FileFormatError(f"unknown text encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = ""
        if encoding is None:
            try:
                raw.decode("gb18030")
                hint = ("; it looks like GBK/GB18030: re-save it as UTF-8 or pass "
                        f"{option('encoding')} gbk")
            except UnicodeDecodeError:
                hint = f"; re-save it as UTF-8 or pass {option('encoding')}"
        raise FileFormatError(
            f"{path.name}: not {enc.replace('-sig', '').upper()} text "
            f"(byte 0x{raw[exc.start]:02x} on line {line}){hint}"
        ) from None


def _check_rows(text: str, path: Path, delimiter: str) -> None:
    """Every row must have as many fields as the header (pandas pads short rows silently)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise FileFormatError(f"{path.name}: the file is empty") from None
    except csv.Error as exc:
        raise FileFormatError(f"{path.name} line 1: {exc}") from None
    width = len(header)
    try:
        for row in reader:
            if row and len(row) != width:
                raise FileFormatError(
                    f"{path.name} line {reader.line_num}: {len(row)} fields where the header has "
                    f"{width} (a stray comma or quote?)"
                )
    except csv.Error as exc:
        raise FileFormatError(f"{path.name} line {reader.line_num}: {exc}") from None


def _read_csv(path: Path, mapping: dict[str, str], encoding: str | None) -> gpd.GeoDataFrame:
    text = _decode(path, encoding)
    if not text.strip():
        raise FileFormatError(f"{path.name}: the file is empty")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    _check_rows(text, path, delimiter)
    try:
        table = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=object,
                            keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FileFormatError(f"{path.name}: {_first_line(exc)}") from None
    table.columns = [str(c).strip() for c in table.columns]
    table = _rename(table, mapping)
    return _frame_from_table(table, path)


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def _frame_from_table(table: pd.DataFrame, path: Path) -> gpd.GeoDataFrame:
    """Build point geometries from lon/lat (or x/y) columns, or shapes from WKT."""
    cols = list(table.columns)
    lon, lat = _find(cols, LON_NAMES[:-1]), _find(cols, LAT_NAMES[:-1])
    if lon is None or lat is None:
        lon, lat = _find(cols, ("x",)), _find(cols, ("y",))
    if lon is not None and lat is not None:
        x = pd.to_numeric(table[lon], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        y = pd.to_numeric(table[lat], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        geoms = shapely.points(x, y)
        geoms[np.isnan(x) | np.isnan(y)] = None
        frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, index=table.index))
        frame.attrs["xy_columns"] = (lon, lat)
        return frame
    wkt = _find(cols, WKT_NAMES)
    if wkt is None:
        raise FileFormatError(
            f"{path.name}: no coordinates: needs lon/lat (or x/y) columns or WKT in a "
            f"'geometry' column (it has: {', '.join(cols)}); "
            f"rename with {option('mapping')} SRC=lon"
        )
    values = table[wkt].astype(object).where(table[wkt].notna(), None)
    geoms = shapely.from_wkt(values.to_numpy(), on_invalid="ignore")
    data = table.drop(columns=[wkt])
    data["_wkt"] = values
    frame = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geoms, index=table.index))
    frame.attrs["wkt_column"] = wkt
    return frame


def strip_z(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop Z/M coordinates (the schema stores 2D)."""
    geoms = frame.geometry.values
    if not shapely.has_z(np.asarray(geoms, dtype=object)).any():
        return frame
    flat = shapely.force_2d(np.asarray(geoms, dtype=object))
    return frame.set_geometry(gpd.GeoSeries(flat, index=frame.index, crs=frame.crs))


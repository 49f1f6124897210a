"""Result files of the batch analyses: one GeoParquet file of H3 cells.

Columns: ``h3`` (string id) first, the analysis' columns, then ``geometry``
(the cell's outline, WKB polygon in OGC:CRS84). Written to a hidden file and
moved into place, so a failed run never leaves a partial file.
"""

from __future__ import annotations

from pathlib import Path

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from geo.batch import dataset
from geo.errors import InvalidInput


def check_out(out: str | Path) -> Path:
    """``out`` if it names a ``.parquet`` file in an existing folder."""
    out = Path(out)
    if out.suffix.lower() not in (".parquet", ".geoparquet"):
        raise InvalidInput(f"--out must end with .parquet, not {out.name!r}")
    if not out.parent.is_dir():
        raise InvalidInput(f"folder {out.parent} does not exist")
    return out


def outlines(cells: np.ndarray) -> np.ndarray:
    """WKB polygons (lon/lat) of H3 integer cells (an object array of bytes)."""
    if not len(cells):
        return np.empty(0, object)
    bounds = [h3i.cell_to_boundary(c) for c in cells.tolist()]
    sizes = np.fromiter(map(len, bounds), dtype=np.int64, count=len(bounds))
    latlon = np.array([v for b in bounds for v in b], dtype=float)
    rings = shapely.linearrings(latlon[:, ::-1], indices=np.repeat(np.arange(len(bounds)), sizes))
    return shapely.to_wkb(shapely.polygons(rings))


def write_cells(frame: pd.DataFrame, wkb: np.ndarray, out: str | Path,
                parameters: dict | None = None, geometry_types: tuple = ("Polygon",)) -> Path:
    """Write ``frame`` and its WKB geometries (lon/lat) as GeoParquet at ``out``."""
    import json

    out = check_out(out)
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    table = table.append_column("geometry", pa.array(list(wkb), type=pa.binary()))
    bounds = None
    if len(frame):
        b = shapely.bounds(shapely.from_wkb(wkb))
        bounds = [float(np.nanmin(b[:, 0])), float(np.nanmin(b[:, 1])),
                  float(np.nanmax(b[:, 2])), float(np.nanmax(b[:, 3]))]
    meta = {b"geo": dataset.geo_metadata(list(geometry_types), bounds)}
    if parameters is not None:
        meta[b"onemap"] = json.dumps(parameters, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with dataset.atomic_file(out) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return out

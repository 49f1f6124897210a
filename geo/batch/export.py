"""Export a layer from PostGIS to a partitioned GeoParquet dataset, streamed in chunks.

Rows come through a server-side cursor ``chunk_rows`` at a time, so a table of
10^7 incidents never sits in memory; each chunk is split by partition and
appended as a row group to that partition's file. Incidents are read in time
order, so only the current months' files are open at once. The dataset is
written in a hidden folder and renamed into place at the end (a failure leaves
nothing behind).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h3.api.basic_int as h3i
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, text

from geo.batch import dataset
from geo.batch.settings import BatchSettings
from geo.errors import InvalidInput, NotEnoughData
from geo.layers import CONTRACT_LAYERS, get_layer
from geo.settings import ServiceAreaSettings
from geo.versions import layer_versions

_ARROW = {"text": pa.string(), "enum": pa.string(), "int": pa.int64(), "float": pa.float64(),
          "bool": pa.bool_(), "time": pa.timestamp("us", tz="UTC")}
_GEOMETRY_TYPES = {"incidents": ["Point"], "cameras": ["Point"], "posts": ["Point"]}
# Columns the views need beyond the contract fields (camera resolution for IEC detail ranges).
_EXTRA = {"cameras": {"resolution_px": "float"}}


def _fields(layer: str) -> dict[str, str]:
    """Exported fields and their kinds: the contract fields, then the extras."""
    spec = get_layer(layer)
    return {**{n: fs.kind for n, fs in spec.fields.items()}, **_EXTRA.get(layer, {})}


def arrow_schema(layer: str) -> pa.Schema:
    """Columns of an exported layer: ``id``, the canonical fields, ``geometry`` (WKB)."""
    fields = [pa.field("id", pa.int64())]
    fields += [pa.field(name, _ARROW[kind]) for name, kind in _fields(layer).items()]
    fields.append(pa.field("geometry", pa.binary()))
    return pa.schema(fields)


def _select(layer: str, tz: str | None) -> str:
    """The streamed SELECT: fields, WKB, a point to partition by, and the local month."""
    spec = get_layer(layer)
    cols = ", ".join(f'"{f}"' for f in _fields(layer))
    point = "geom" if spec.geometry == "point" else "ST_PointOnSurface(geom)"
    month = ", to_char(occurred_at AT TIME ZONE :tz, 'YYYY-MM')" if tz else ""
    where = ("WHERE plan_id = (SELECT id FROM grid_plans WHERE status = 'active' "
             "ORDER BY id DESC LIMIT 1)" if layer == "grids" else "")
    order = "occurred_at, id" if tz else "id"
    return (f"SELECT id, {cols}, ST_AsBinary(geom), ST_X({point}), ST_Y({point}){month} "
            f"FROM {layer} {where} ORDER BY {order}")


@dataclass
class _Writers:
    """Open ParquetWriters, one per partition, and what each has received."""

    folder: Path
    schema: pa.Schema
    open: dict = field(default_factory=dict)
    files: list = field(default_factory=list)

    def append(self, month: str | None, cell: str, table: pa.Table, bounds: list) -> None:
        key = (month, cell)
        if key not in self.open:
            rel = f"{dataset.partition_dir(month, cell)}/part-0.parquet"
            (self.folder / rel).parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(self.folder / rel, self.schema, compression="zstd")
            self.open[key] = [writer, dataset.PartFile(rel, cell, month, 0, list(bounds))]
        writer, part = self.open[key]
        writer.write_table(table)
        part.rows += table.num_rows
        b = part.bounds
        part.bounds = [min(b[0], bounds[0]), min(b[1], bounds[1]),
                       max(b[2], bounds[2]), max(b[3], bounds[3])]

    def close_before(self, month: str | None) -> None:
        """Close the files of months before ``month`` (rows come in time order)."""
        for key in [k for k in self.open if month is not None and k[0] < month]:
            self._close(key)

    def close_all(self) -> None:
        for key in list(self.open):
            self._close(key)

    def _close(self, key) -> None:
        writer, part = self.open.pop(key)
        writer.close()
        self.files.append(part)


def _study_area(conn) -> dict | None:
    """The service's study area (union of the top admin level) as WKB hex, if any."""
    from geo.hotspots.aggregate import admin_area

    geom, level = admin_area(conn)
    return None if geom is None else {"source": f"admin_areas:{level}", "wkb_hex": geom.wkb_hex}


def export_dataset(engine: Engine, layer: str, target: str | Path, *,
                   settings: BatchSettings, area: ServiceAreaSettings, timezone: str,
                   partition: str = "month",
                   progress: Callable[[int, int], None] | None = None) -> dataset.Manifest:
    """Write ``layer`` to a new dataset folder ``target``; returns its manifest.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    layer : str
        A contract layer (grids: the active plan's).
    target : path-like
        A folder that must not exist yet.
    settings : BatchSettings
        Partition resolution and chunk size.
    area : ServiceAreaSettings
        The metric EPSG recorded in the manifest.
    partition : {"month", "cell"}
        Incidents only: ``month`` partitions by month and coarse cell, ``cell``
        by coarse cell alone. Other layers are partitioned by coarse cell.
    timezone : str
        Of the month keys (the service's local time zone).
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)`` after each chunk.
    """
    from geo.coverage.metric import metric_epsg

    if layer not in CONTRACT_LAYERS:
        raise InvalidInput(f"unknown layer {layer!r}; layers are: {', '.join(CONTRACT_LAYERS)}")
    if partition not in ("month", "cell"):
        raise InvalidInput(f"--partition must be month or cell, got {partition!r}")
    if partition == "month" and layer != "incidents":
        partition = "cell"
    tz = timezone
    by_month = partition == "month"
    schema = arrow_schema(layer)
    geo_schema = dataset.with_geo(schema, _GEOMETRY_TYPES.get(layer, []))
    names = list(_fields(layer))
    with engine.connect() as conn:
        total = int(conn.execute(text(f"SELECT count(*) FROM {layer}")).scalar())
        study = _study_area(conn) if layer == "incidents" else None
        epsg = metric_epsg(conn, area)
        version = layer_versions(conn, (layer,))[layer]
    if total == 0:
        raise NotEnoughData(f"the {layer} table is empty; nothing to export")
    manifest = dataset.Manifest(layer, settings.partition_res,
                                ["month", "cell"] if by_month else ["cell"], timezone=tz,
                                study_area=study, metric_epsg=epsg,
                                source={"layer_version": int(version or 0)})
    with dataset.atomic_dir(target) as tmp:
        writers = _Writers(tmp, geo_schema)
        try:
            done = 0
            for chunk in _stream(engine, _select(layer, tz if layer == "incidents" else None),
                                 {"tz": tz}, settings.chunk_rows):
                done += _write_chunk(writers, chunk, schema, names, by_month,
                                     settings.partition_res)
                if progress:
                    progress(done, total)
        finally:
            writers.close_all()
        manifest.files = sorted(writers.files, key=lambda f: f.path)
        dataset.write_manifest(tmp, manifest)
    return manifest


def _stream(engine: Engine, sql: str, params: dict, chunk_rows: int):
    """Chunks of rows from a server-side (named) cursor in one read-only transaction."""
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        with pg.transaction(), pg.cursor(name="onemap_batch_export") as cur:
            cur.itersize = chunk_rows
            cur.execute(sql.replace(":tz", "%(tz)s"), params)
            while rows := cur.fetchmany(chunk_rows):
                yield rows
    finally:
        raw.close()


def _write_chunk(writers: _Writers, rows: list, schema: pa.Schema, names: list[str],
                 by_month: bool, partition_res: int) -> int:
    """Split one chunk by partition and append each piece; returns its row count."""
    n_fields = len(names)
    columns = list(zip(*rows, strict=True))
    lon = np.asarray(columns[n_fields + 2], dtype=float)
    lat = np.asarray(columns[n_fields + 3], dtype=float)
    months = np.asarray(columns[n_fields + 4], dtype=object) if by_month else None
    arrays = [pa.array(columns[i], type=schema.field(i).type) for i in range(n_fields + 1)]
    arrays.append(pa.array([bytes(b) for b in columns[n_fields + 1]], type=pa.binary()))
    table = pa.Table.from_arrays(arrays, schema=schema)
    cells = np.fromiter((h3i.latlng_to_cell(y, x, partition_res)
                         for x, y in zip(lon.tolist(), lat.tolist(), strict=True)),
                        dtype=np.int64, count=len(lon))
    if by_month:
        writers.close_before(str(months.min()))
        keys = np.char.add(months.astype(str), np.char.add("|", cells.astype(str)))
    else:
        keys = cells.astype(str)
    uniq, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
    for j, key in enumerate(uniq.tolist()):
        rows_j = order[starts[j]:starts[j + 1]]
        month, cell = key.split("|") if by_month else (None, key)
        bounds = [float(lon[rows_j].min()), float(lat[rows_j].min()),
                  float(lon[rows_j].max()), float(lat[rows_j].max())]
        writers.append(month, h3i.int_to_str(int(cell)), table.take(rows_j), bounds)
    return len(rows)

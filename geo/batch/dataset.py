"""The partitioned GeoParquet layout of a batch dataset and its manifest.

A dataset is a folder::

    DIR/_manifest.json
    DIR/month=2026-01/cell=86xxxxxxxxxxxxx/part-0.parquet     (incidents)
    DIR/cell=86xxxxxxxxxxxxx/part-0.parquet                   (other layers)

Hive-style keys: ``month`` is the local month of ``occurred_at`` (the hotspot
timezone) and ``cell`` the coarse H3 cell (``ONEMAP_BATCH_PARTITION_RES``) of the
feature's point (incidents, cameras) or representative point (polygons, lines).
Every file is GeoParquet 1.0.0 (WKB ``geometry`` in OGC:CRS84) that geopandas,
GDAL and ``pyarrow.dataset`` read. The manifest records the layer, the rows and
bounds of every file, the partitioning, and what the analyses need from the
database: the study area and the metric CRS.

Writes are atomic: a dataset is built in a hidden sibling folder and renamed
into place, so a failed run leaves nothing at ``DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from geo.errors import InvalidInput

MANIFEST = "_manifest.json"
FORMAT = "onemap-batch/1"
_CRS84: dict | None = None


def crs84() -> dict:
    """PROJJSON of OGC:CRS84 (lon/lat), the GeoParquet default, built once."""
    global _CRS84
    if _CRS84 is None:
        from pyproj import CRS

        _CRS84 = CRS("OGC:CRS84").to_json_dict()
    return _CRS84


def geo_metadata(geometry_types: list[str], bbox: list[float] | None = None) -> bytes:
    """The ``geo`` key of a GeoParquet 1.0.0 file with one WKB column ``geometry``."""
    column = {"encoding": "WKB", "geometry_types": geometry_types, "crs": crs84()}
    if bbox is not None:
        column["bbox"] = bbox
    return json.dumps({"version": "1.0.0", "primary_column": "geometry",
                       "columns": {"geometry": column}}).encode()


def with_geo(schema: pa.Schema, geometry_types: list[str], bbox=None) -> pa.Schema:
    """``schema`` carrying the GeoParquet metadata."""
    return schema.with_metadata({b"geo": geo_metadata(geometry_types, bbox)})


def partition_dir(month: str | None, cell: str) -> str:
    """Relative folder of one partition."""
    return f"month={month}/cell={cell}" if month else f"cell={cell}"


@dataclass
class PartFile:
    """One file of the dataset: where, its keys, rows and lon/lat bounds."""

    path: str
    cell: str
    month: str | None
    rows: int
    bounds: list[float]


@dataclass
class Manifest:
    """What a dataset holds (``_manifest.json``)."""

    layer: str
    partition_res: int
    partition: list[str]
    files: list[PartFile] = field(default_factory=list)
    timezone: str | None = None
    study_area: dict | None = None
    metric_epsg: int | None = None
    source: dict = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows over every file."""
        return sum(f.rows for f in self.files)

    @property
    def bounds(self) -> list[float] | None:
        """lon/lat bounds over every file (None when empty)."""
        if not self.files:
            return None
        b = np.array([f.bounds for f in self.files])
        return [float(b[:, 0].min()), float(b[:, 1].min()),
                float(b[:, 2].max()), float(b[:, 3].max())]

    def to_json(self) -> dict:
        """JSON-ready dict (with totals)."""
        return {"format": FORMAT, "layer": self.layer, "rows": self.rows,
                "bounds": self.bounds, "partition": self.partition,
                "partition_res": self.partition_res, "timezone": self.timezone,
                "metric_epsg": self.metric_epsg, "study_area": self.study_area,
                "source": self.source,
                "partitions": _partition_totals(self.files),
                "files": [f.__dict__ for f in self.files]}

    @classmethod
    def read(cls, folder: str | Path) -> Manifest:
        """The manifest of a dataset folder; InvalidInput when it is not one."""
        path = Path(folder) / MANIFEST
        if not path.is_file():
            raise InvalidInput(f"{folder} is not a batch dataset (no {MANIFEST}); "
                               "write one with `onemap batch export`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            files = [PartFile(**f) for f in data["files"]]
            return cls(data["layer"], int(data["partition_res"]), list(data["partition"]),
                       files, data.get("timezone"), data.get("study_area"),
                       data.get("metric_epsg"), data.get("source") or {})
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{path} is not a readable batch manifest ({exc})") from None

    def tasks(self, folder: str | Path, task_rows: int, least: int) -> list[list[str]]:
        """Files grouped into tasks of about equal rows.

        As many tasks as ``task_rows`` asks for, and at least ``least`` (e.g. a few per
        worker) when there are that many files; largest files first, each to the
        lightest task.
        """
        paths = self.paths(folder)
        rows = sorted((f.rows for f in self.files), reverse=True)
        n = min(len(paths), max(-(-self.rows // task_rows), least))
        groups: list[list[str]] = [[] for _ in range(max(n, 1))]
        load = np.zeros(len(groups))
        for path, r in zip(paths, rows, strict=True):
            i = int(np.argmin(load))
            groups[i].append(path)
            load[i] += r
        return [g for g in groups if g]

    def paths(self, folder: str | Path) -> list[str]:
        """Absolute paths of the files, largest first (the longest tasks start first)."""
        root = Path(folder).resolve()
        order = sorted(self.files, key=lambda f: -f.rows)
        return [str(root / f.path) for f in order]


def _partition_totals(files: list[PartFile]) -> list[dict]:
    out: dict[tuple, dict] = {}
    for f in files:
        key = (f.month, f.cell)
        p = out.setdefault(key, {"month": f.month, "cell": f.cell, "rows": 0,
                                 "bounds": list(f.bounds)})
        p["rows"] += f.rows
        b = p["bounds"]
        p["bounds"] = [min(b[0], f.bounds[0]), min(b[1], f.bounds[1]),
                       max(b[2], f.bounds[2]), max(b[3], f.bounds[3])]
    return [out[k] for k in sorted(out, key=lambda k: (k[0] or "", k[1]))]


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write ``_manifest.json`` into ``folder``."""
    (folder / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=1, ensure_ascii=False),
                                   encoding="utf-8")


def write_part(folder: Path, rel: str, table: pa.Table, geometry_types: list[str],
               bounds: list[float]) -> None:
    """Write one GeoParquet file ``folder/rel`` (parents created)."""
    target = folder / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    table = table.replace_schema_metadata(
        {b"geo": geo_metadata(geometry_types, bounds)})
    pq.write_table(table, target, compression="zstd")


def check_target(target: Path) -> None:
    """Refuse a target that exists (never write over data) or whose parent is missing."""
    if target.exists():
        raise InvalidInput(f"{target} already exists; choose a new folder or remove it")
    if not target.parent.is_dir():
        raise InvalidInput(f"folder {target.parent} does not exist")


@contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """A hidden sibling folder renamed to ``target`` on success, removed on failure."""
    target = Path(target)
    check_target(target)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_file(target: str | Path) -> Iterator[Path]:
    """A hidden sibling file moved onto ``target`` on success, removed on failure."""
    target = Path(target)
    if not target.parent.is_dir():
        raise InvalidInput(f"folder {target.parent} does not exist")
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()

"""Batch camera views on Dask, equal to the service's ``onemap coverage refresh``.

Input: a cameras dataset and a buildings dataset (``onemap batch export``, both
partitioned by coarse H3 cell). One task per camera partition: its online
cameras, and the buildings of every building partition within the halo — the
camera partition's bounds grown by the largest camera range — are read on the
worker and passed to the service's own view computation
(``geo.coverage.views.compute_batch``: sector − blind strip − exact building
shadows) in the service's metric CRS (recorded at export). Per partition the
task also returns its figures: cameras, views, wholly blocked views and the
summed view area.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import shapely

from geo.batch.cluster import task_errors
from geo.batch.dataset import Manifest
from geo.coverage.settings import CoverageSettings
from geo.errors import InvalidInput

M_PER_DEG = 111_320.0
_PAD = (1.02, 2.0)  # the service's margin on range boxes (relative, metres)


def halo_deg(range_m: float, lat: float) -> tuple[float, float]:
    """(dlon, dlat) of a halo of ``range_m`` metres (with the service's margin) at ``lat``."""
    r = range_m * _PAD[0] + _PAD[1] + 1.0
    return r / (M_PER_DEG * max(np.cos(np.radians(abs(lat) + 0.5)), 0.05)), r / M_PER_DEG


def read_cameras(path: str) -> pd.DataFrame:
    """Online cameras of one file as the service's frame (``id``, fields, ``lon``/``lat``)."""
    frame = pq.read_table(path).to_pandas()
    xy = shapely.get_coordinates(shapely.from_wkb(frame.pop("geometry").to_numpy()))
    frame["lon"], frame["lat"] = xy[:, 0], xy[:, 1]
    frame = frame[frame["status"] == "online"].sort_values("id").reset_index(drop=True)
    return frame.astype({"resolution_px": float})


def read_buildings(paths: list[str], box: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(ids, lon/lat footprints) of the buildings of ``paths`` meeting ``box``, by id."""
    ids, geoms = [], []
    for p in paths:
        t = pq.read_table(p, columns=["id", "geometry"])
        g = shapely.from_wkb(t["geometry"].to_numpy(zero_copy_only=False))
        keep = shapely.intersects(g, shapely.box(*box))
        ids.append(t["id"].to_numpy()[keep])
        geoms.append(g[keep])
    if not ids:
        return np.zeros(0, np.int64), np.empty(0, object)
    ids_a, geoms_a = np.concatenate(ids), np.concatenate(geoms)
    order = np.argsort(ids_a, kind="stable")
    return ids_a[order], geoms_a[order]


def partition_views(camera_path: str, building_paths: list[str], box: tuple, epsg: int,
                    settings: CoverageSettings):
    """Views of one camera partition (a task): ids, WKB views (lon/lat), areas, figures."""
    from geo.coverage.views import _with_xy, compute_batch
    from geo.crs import Projector

    cams = read_cameras(camera_path)
    if cams.empty:
        return np.zeros(0, np.int64), np.empty(0, object), np.zeros(0), (0, 0, 0, 0.0)
    proj = Projector(epsg)
    cams = _with_xy(cams, proj)
    _, buildings = read_buildings(building_paths, box)
    ids, views, areas = compute_batch(cams, proj.to_metric(buildings), epsg, settings)
    figures = (len(cams), len(ids), int((areas <= 0).sum()), float(areas.sum()))
    return ids, shapely.to_wkb(views), areas, figures


@dataclass
class BatchViews:
    """Camera views of a province, one task per camera partition.

    Attributes
    ----------
    frame_ : DataFrame
        camera_id, area_m2 and ``view`` (WKB, lon/lat; None when wholly blocked),
        sorted by camera id.
    partitions_ : DataFrame
        Per camera partition: cell, cameras online, views, blocked, view_area_m2.
    """

    client: object
    cameras: str | Path
    buildings: str | Path
    settings: CoverageSettings = field(default_factory=CoverageSettings)

    def __post_init__(self):
        self.cam_manifest = Manifest.read(self.cameras)
        self.bld_manifest = Manifest.read(self.buildings)
        if self.cam_manifest.layer != "cameras" or self.bld_manifest.layer != "buildings":
            raise InvalidInput("give a cameras dataset, then a buildings dataset")

    def tasks(self) -> list[tuple]:
        """(camera file, building files in its halo, halo box) per camera partition."""
        import pyarrow.compute as pc

        root_c, root_b = Path(self.cameras).resolve(), Path(self.buildings).resolve()
        out = []
        for f in self.cam_manifest.files:
            path = str(root_c / f.path)
            rng = pq.read_table(path, columns=["range_m"])["range_m"]
            dlon, dlat = halo_deg(float(pc.max(rng).as_py() or 0.0),
                                  max(abs(f.bounds[1]), abs(f.bounds[3])))
            box = (f.bounds[0] - dlon, f.bounds[1] - dlat, f.bounds[2] + dlon,
                   f.bounds[3] + dlat)
            near = [str(root_b / b.path) for b in self.bld_manifest.files
                    if b.bounds[0] <= box[2] and b.bounds[2] >= box[0]
                    and b.bounds[1] <= box[3] and b.bounds[3] >= box[1]]
            out.append((f.cell, path, near, box))
        return out

    def run(self) -> BatchViews:
        """Compute every partition on the workers."""
        epsg = self.cam_manifest.metric_epsg
        if epsg is None:
            raise InvalidInput("the cameras dataset does not record its metric CRS")
        with task_errors("batch coverage"):
            jobs = self.tasks()
            futures = [self.client.submit(partition_views, path, near, box, epsg, self.settings,
                                          pure=False) for _, path, near, box in jobs]
            results = self.client.gather(futures)
        ids = np.concatenate([r[0] for r in results]) if results else np.zeros(0, np.int64)
        order = np.argsort(ids, kind="stable")
        self.frame_ = pd.DataFrame({
            "camera_id": ids[order],
            "area_m2": np.concatenate([r[2] for r in results])[order] if results else [],
            "view": np.concatenate([r[1] for r in results])[order] if results else []})
        self.partitions_ = pd.DataFrame(
            [(cell, *r[3]) for (cell, *_), r in zip(jobs, results, strict=True)],
            columns=["cell", "cameras", "views", "blocked", "view_area_m2"])
        return self

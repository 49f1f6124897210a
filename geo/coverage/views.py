"""Compute and store camera views: full refresh and incremental refresh.

* :func:`refresh_all` recomputes every online camera (batches of nearby
  cameras, in worker processes, with a progress bar).
* :func:`refresh_cameras` recomputes only the given cameras (after a camera is
  added, edited, switched on/off or deleted).
* :func:`refresh_near` recomputes the cameras whose range circle touches a
  geometry (after a building is added, edited or deleted: pass the old and the
  new footprint).

Offline and fault cameras have no stored view; an online camera that sees
nothing keeps a row with a NULL geometry and ``area_m2 = 0`` ("wholly blocked").
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, text

from geo.coverage import store
from geo.coverage.metric import metric_epsg
from geo.coverage.settings import CoverageSettings
from geo.coverage.viewshed import Viewshed
from geo.crs import Projector
from geo.settings import ServiceAreaSettings

#: Margin on search boxes around a range circle (relative, and metres).
_BOX_PAD = (1.02, 2.0)


@dataclass
class RefreshReport:
    """What a refresh did."""

    cameras: int = 0
    views: int = 0
    blocked: int = 0
    removed: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the CLI."""
        return (f"{self.views} views stored ({self.blocked} wholly blocked), "
                f"{self.removed} removed, {self.cameras} cameras in {self.seconds:.2f} s")


def model(settings: CoverageSettings) -> Viewshed:
    """The view model configured by ``settings``."""
    return Viewshed(detail=settings.detail, aspect=settings.aspect, lens_fov=settings.lens_fov,
                    n_arc=settings.n_arc, mount_tolerance=settings.mount_tolerance_m,
                    min_area=settings.min_view_m2)


def compute_batch(cams: pd.DataFrame, buildings_metric: np.ndarray, epsg: int,
                  settings: CoverageSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of a batch of cameras (frame with metric ``x``/``y``) → (ids, lon/lat views, areas)."""
    fit = model(settings).fit(cams, buildings_metric)
    return cams["id"].to_numpy(), Projector(epsg).to_lonlat(fit.views_), fit.area_


def _with_xy(cams: pd.DataFrame, proj: Projector) -> pd.DataFrame:
    cams = cams.copy()
    cams["x"], cams["y"] = proj.xy_to_metric(cams["lon"], cams["lat"])
    return cams


def _boxes(cams: pd.DataFrame, proj: Projector) -> np.ndarray:
    """Lon/lat boxes around each camera's range circle."""
    r = cams["range_m"].to_numpy(float) * _BOX_PAD[0] + _BOX_PAD[1]
    x, y = cams["x"].to_numpy(float), cams["y"].to_numpy(float)
    xs = np.stack([x - r, x + r, x - r, x + r], axis=1)
    ys = np.stack([y - r, y - r, y + r, y + r], axis=1)
    lon, lat = proj.xy_to_lonlat(xs.ravel(), ys.ravel())
    lon, lat = lon.reshape(-1, 4), lat.reshape(-1, 4)
    return np.column_stack([lon.min(1), lat.min(1), lon.max(1), lat.max(1)])


def _batches(cams: pd.DataFrame, size: int) -> list[np.ndarray]:
    """Row positions of spatially compact batches (sorted along a coarse Morton curve)."""
    if len(cams) <= size:
        return [np.arange(len(cams))]
    x, y = cams["x"].to_numpy(), cams["y"].to_numpy()
    cell = max(np.ptp(x), np.ptp(y), 1.0) / 1024
    ix = ((x - x.min()) / cell).astype(np.int64)
    iy = ((y - y.min()) / cell).astype(np.int64)
    key = np.zeros(len(x), dtype=np.int64)
    for bit in range(11):
        key |= ((ix >> bit) & 1) << (2 * bit) | ((iy >> bit) & 1) << (2 * bit + 1)
    order = np.argsort(key, kind="stable")
    return np.array_split(order, int(np.ceil(len(order) / size)))


def _split_status(cams: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    online = cams["status"] == "online"
    return cams[online].reset_index(drop=True), cams.loc[~online, "id"].astype(int).tolist()


def refresh_all(engine: Engine, settings: CoverageSettings,
                area: ServiceAreaSettings, progress: bool = False) -> RefreshReport:
    """Recompute and store the view of every online camera."""
    t0 = time.perf_counter()
    with engine.connect() as conn:
        proj = Projector(metric_epsg(conn, area))
        cams, dropped = _split_status(store.read_cameras(conn))
        buildings = store.read_buildings(conn) if len(cams) else np.empty(0, dtype=object)
    cams = _with_xy(cams, proj)
    bld_m = proj.to_metric(buildings)
    tree = shapely.STRtree(bld_m)
    jobs = []
    for rows in (_batches(cams, settings.batch) if len(cams) else []):
        part = cams.iloc[rows]
        r = part["range_m"].max() * _BOX_PAD[0] + _BOX_PAD[1]
        box = shapely.box(part["x"].min() - r, part["y"].min() - r,
                          part["x"].max() + r, part["y"].max() + r)
        jobs.append((rows, tree.query(box)))
    ids, views, areas = _run(_Context(cams, bld_m, proj.epsg, settings), jobs, progress)
    with engine.begin() as conn:
        n = store.write_views(conn, ids, views, areas, replace_all=True)
    return RefreshReport(cameras=len(cams) + len(dropped), views=n,
                         blocked=int((areas <= 0).sum()), removed=len(dropped),
                         seconds=time.perf_counter() - t0)


@dataclass
class _Context:
    """What every batch reads: all cameras and buildings (metric), the CRS, the settings."""

    cams: pd.DataFrame
    buildings: np.ndarray
    epsg: int
    settings: CoverageSettings

    def batch(self, job: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, near = job
        return compute_batch(self.cams.iloc[rows], self.buildings[near], self.epsg, self.settings)


#: The context inherited by forked worker processes (set in each worker by its initializer).
_WORKER: dict = {}


def _init_worker(ctx: _Context) -> None:
    _WORKER["ctx"] = ctx


def _work(job: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _WORKER["ctx"].batch(job)


def _run(ctx: _Context, jobs: list, progress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute the batches, in forked worker processes when ``workers`` > 1.

    Workers are forked with the context as their initializer argument, so the
    cameras and buildings are inherited, not pickled; only row indices go out
    and views come back.
    """
    import multiprocessing as mp

    from rich.progress import Progress

    results = []
    workers = ctx.settings.workers
    with Progress(disable=not progress, transient=False) as bar:
        task = bar.add_task("camera views", total=sum(len(j[0]) for j in jobs))
        if workers > 1 and len(jobs) > 1 and "fork" in mp.get_all_start_methods():
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"),
                                     initializer=_init_worker, initargs=(ctx,)) as pool:
                for job, res in zip(jobs, pool.map(_work, jobs), strict=True):
                    results.append(res)
                    bar.advance(task, len(job[0]))
        else:
            for job in jobs:
                results.append(ctx.batch(job))
                bar.advance(task, len(job[0]))
    if not results:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object), np.empty(0)
    return tuple(np.concatenate([r[i] for r in results]) for i in range(3))  # type: ignore[return-value]


def refresh_cameras(engine: Engine, ids, settings: CoverageSettings,
                    area: ServiceAreaSettings, *, conn=None) -> RefreshReport:
    """Recompute the views of the cameras ``ids`` only (deleted ones lose their view).

    Pass ``conn`` to run inside an open transaction (e.g. the request that edits
    the camera), so the camera and its view change together.
    """
    if conn is None:
        with engine.begin() as own:
            return refresh_cameras(engine, ids, settings, area, conn=own)
    t0 = time.perf_counter()
    ids = sorted({int(i) for i in ids})
    cams, dropped = _split_status(store.read_cameras(conn, ids))
    missing = sorted(set(ids) - set(cams["id"].tolist()) - set(dropped))
    if len(cams) == 0:
        store.write_views(conn, [], [], [], replace_all=False, drop_ids=dropped + missing)
        return RefreshReport(cameras=len(ids), removed=len(dropped) + len(missing),
                             seconds=time.perf_counter() - t0)
    proj = Projector(metric_epsg(conn, area, fallback=(cams["lon"].iloc[0], cams["lat"].iloc[0])))
    cams = _with_xy(cams, proj)
    buildings = proj.to_metric(store.read_buildings(conn, _boxes(cams, proj)))
    cam_ids, views, areas = compute_batch(cams, buildings, proj.epsg, settings)
    n = store.write_views(conn, cam_ids, views, areas, replace_all=False,
                          drop_ids=dropped + missing)
    return RefreshReport(cameras=len(ids), views=n, blocked=int((areas <= 0).sum()),
                         removed=len(dropped) + len(missing), seconds=time.perf_counter() - t0)


_NEAR_SQL = text(
    """
    SELECT c.id
    FROM cameras AS c
    WHERE c.geom && ST_Expand(ST_GeomFromWKB(:wkb, 4326), :deg)
      AND ST_DWithin(c.geom::geography, ST_GeomFromWKB(:wkb, 4326)::geography, c.range_m)
    """
)


def cameras_near(conn, geometry) -> list[int]:
    """Ids of cameras whose range circle touches ``geometry`` (lon/lat)."""
    max_range = conn.execute(text("SELECT coalesce(max(range_m), 0) FROM cameras")).scalar()
    lat = abs(shapely.get_y(shapely.centroid(geometry))) if not shapely.is_empty(geometry) else 0
    deg = (float(max_range) * 1.05 + 5) / (111_320 * max(np.cos(np.radians(min(lat, 85))), 0.05))
    rows = conn.execute(_NEAR_SQL, {"wkb": shapely.to_wkb(geometry), "deg": deg})
    return [r[0] for r in rows]


def refresh_near(engine: Engine, geometry, settings: CoverageSettings,
                 area: ServiceAreaSettings, *, conn=None) -> RefreshReport:
    """Recompute the views of cameras whose range circle touches ``geometry`` (lon/lat).

    After a building edit pass both footprints, e.g. ``old.union(new)``.
    """
    if conn is None:
        with engine.begin() as own:
            return refresh_near(engine, geometry, settings, area, conn=own)
    ids = cameras_near(conn, geometry)
    if not ids:
        return RefreshReport()
    return refresh_cameras(engine, ids, settings, area, conn=conn)

"""Gaps kept in ``coverage_gaps`` (served as an OGC collection and a tile layer).

The table holds the gaps of the default incident window down to a small area
floor; it is recomputed when any layer it depends on changed after it was
written. Requests for another window are computed on the fly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, text

from geo.coverage.basis import read_basis
from geo.coverage.gaps import ON_EDGE_M, GapFinder
from geo.coverage.settings import CoverageSettings
from geo.coverage.store import ewkb_hex
from geo.coverage.summary import DEPENDS_ON, ResultCache, data_versions
from geo.coverage.units import read_units
from geo.errors import InvalidInput, NotFound
from geo.settings import ServiceAreaSettings

#: Smallest gap stored (m²); requests for smaller ones get these.
FLOOR_M2 = 50.0
#: Layers the stored gaps are computed from. Not ``grids``: gaps are cut along communities,
#: and every planner edit of a draft plan writes ``grids`` (which made each read after an
#: edit recompute the city's gaps: 4–8 s on the city demo).
GAPS_DEPEND_ON = tuple(layer for layer in DEPENDS_ON if layer != "grids")

# Stale gaps are served (while refreshed) only when there are stored gaps to serve.
_EVER_SQL = text("SELECT EXISTS (SELECT 1 FROM coverage_gaps)")
_STALE_SQL = text(
    """
    SELECT coalesce(max(changed_at) FILTER (WHERE layer = ANY(:deps)), '-infinity')
           > coalesce(max(changed_at) FILTER (WHERE layer = 'coverage_gaps'), '-infinity')
    FROM layer_versions
    """
)
_GAPS_SQL = """
    SELECT g.id, ST_AsBinary(g.geom) AS wkb, g.area_m2, g.incidents, g.open_incidents,
           g.nearest_camera_id,
           g.nearest_camera_m, c.status AS nearest_camera_status,
           coalesce(g.nearest_camera_m < :on_edge, false) AS camera_inside,
           g.priority, g.community_code,
           g.computed_at
    FROM coverage_gaps AS g LEFT JOIN cameras AS c ON c.id = g.nearest_camera_id
    WHERE g.area_m2 >= :min_area {bbox}
    ORDER BY g.priority DESC, g.area_m2 DESC, g.id
    LIMIT :limit
"""


def gap_areas(conn: Connection, basis) -> pd.DataFrame:
    """Communities (else the city) the gaps are cut along."""
    try:
        return read_units(conn, "community", basis.proj)
    except NotFound:
        return read_units(conn, "city", basis.proj).assign(code=None)


def find_gaps(conn: Connection, settings: CoverageSettings, area: ServiceAreaSettings,
              days: int | None = None, until: datetime | None = None,
              min_area: float = FLOOR_M2) -> tuple[pd.DataFrame, object]:
    """Compute gaps now → (frame with metric geometry, projector)."""
    basis = read_basis(conn, window_days=days or settings.window_days, until=until, area=area)
    areas = gap_areas(conn, basis)
    finder = GapFinder(settings.gap_res, min_area, settings.gap_area_weight,
                       settings.attach_m).fit(basis, areas)
    return finder.gaps_, basis.proj


def refresh_gaps(engine: Engine, settings: CoverageSettings,
                 area: ServiceAreaSettings) -> int:
    """Recompute and store the gaps of the default window; returns how many."""
    with engine.begin() as conn:
        gaps, proj = find_gaps(conn, settings, area)
        conn.execute(text("DELETE FROM coverage_gaps"))
        if len(gaps) == 0:
            return 0
        geoms = proj.to_lonlat(shapely.multipolygons(
            shapely.get_parts(gaps["geometry"].to_numpy()),
            indices=np.arange(len(gaps))))
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(
            "COPY coverage_gaps (geom, area_m2, incidents, open_incidents, nearest_camera_id, "
            "nearest_camera_m, priority, community_code) FROM STDIN"
        ) as copy:
            for g, row in zip(ewkb_hex(geoms), gaps.itertuples(index=False), strict=True):
                cam = None if row.nearest_camera_id is None else int(row.nearest_camera_id)
                dist = None if np.isnan(row.nearest_camera_m) else float(row.nearest_camera_m)
                copy.write_row((g, float(row.area_m2), int(row.incidents),
                                int(row.open_incidents), cam, dist, float(row.priority),
                                row.community_code))
    return len(gaps)


class Refresher:
    """Runs one refresh at a time in a background thread.

    A request while one runs starts nothing; a change the running refresh missed leaves
    the gaps stale, and the next read starts another.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """True while a refresh runs."""
        return self._lock.locked()

    def submit(self, job: Callable[[], object]) -> bool:
        """Start ``job`` unless one runs; True when started."""
        if not self._lock.acquire(blocking=False):
            return False

        def run() -> None:
            try:
                job()
            finally:
                self._lock.release()

        threading.Thread(target=run, name="gaps-refresh", daemon=True).start()
        return True


def gaps_stale(conn: Connection) -> bool:
    """True when a layer the gaps depend on changed after they were stored."""
    return bool(conn.execute(_STALE_SQL, {"deps": list(GAPS_DEPEND_ON)}).scalar())


def _check(min_area: float, limit: int, bbox) -> None:
    if min_area < 0:
        raise InvalidInput("min_area must be ≥ 0 m²")
    if limit < 1:
        raise InvalidInput("limit must be ≥ 1")
    if bbox is not None:
        x0, y0, x1, y1 = bbox
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise InvalidInput("bbox must be lon_min,lat_min,lon_max,lat_max with min < max")


def gap_features(engine: Engine, *, bbox=None, min_area: float | None = None, limit: int = 100,
                 days: int | None = None, settings: CoverageSettings,
                 area: ServiceAreaSettings,
                 cache: ResultCache | None = None, refresher: Refresher | None = None) -> dict:
    """Gaps as a GeoJSON FeatureCollection, best first.

    Stale stored gaps (a layer they depend on changed since) are recomputed first — or,
    with a ``refresher`` and gaps stored before, served at once marked ``stale: true``
    while the refresher recomputes them (a city's gaps take seconds; the map must not).
    """
    min_area = settings.gap_min_area_m2 if min_area is None else float(min_area)
    _check(min_area, limit, bbox)
    if days is not None and days != settings.window_days:
        return _adhoc(engine, bbox, min_area, limit, days, settings, area, cache)
    with engine.connect() as conn:
        stale = gaps_stale(conn)
        stored = bool(conn.execute(_EVER_SQL).scalar())
    if stale and refresher is not None and stored:
        refresher.submit(lambda: refresh_gaps(engine, settings, area))
    elif stale:
        refresh_gaps(engine, settings, area)
        stale = False
    where, params = "", {"min_area": max(min_area, FLOOR_M2), "limit": int(limit),
                         "on_edge": ON_EDGE_M}
    if bbox is not None:
        where = "AND g.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
        params.update(dict(zip(("x0", "y0", "x1", "y1"), map(float, bbox), strict=True)))
    with engine.connect() as conn:
        rows = conn.execute(text(_GAPS_SQL.format(bbox=where)), params).mappings().all()
    feats = [_feature(r["id"], shapely.from_wkb(r["wkb"]), dict(r), i + 1)
             for i, r in enumerate(rows)]
    return {"type": "FeatureCollection", "features": feats,
            "min_area_m2": params["min_area"], "window_days": settings.window_days,
            "stale": stale}


def _adhoc(engine, bbox, min_area, limit, days, settings, area, cache) -> dict:
    with engine.connect() as conn:
        key = ("gaps", str(engine.url), days, settings.gap_res, settings.gap_area_weight,
               settings.attach_m, data_versions(conn, GAPS_DEPEND_ON))

    def compute():
        with engine.connect() as conn:
            return find_gaps(conn, settings, area, days=days, min_area=FLOOR_M2)

    found = compute() if cache is None else cache.get(key, compute)
    gaps, proj = found
    gaps = gaps[gaps["area_m2"] >= max(min_area, FLOOR_M2)]
    geoms = proj.to_lonlat(gaps["geometry"].to_numpy())
    if bbox is not None:
        keep = shapely.intersects(geoms, shapely.box(*bbox))
        gaps, geoms = gaps[keep], geoms[keep]
    rows = gaps.head(limit).to_dict("records")
    feats = [_feature(None, g, r, i + 1)
             for i, (g, r) in enumerate(zip(geoms[:limit], rows, strict=True))]
    return {"type": "FeatureCollection", "features": feats,
            "min_area_m2": max(min_area, FLOOR_M2), "window_days": days}


def _feature(fid, geom, row: dict, rank: int) -> dict:
    props = {k: row.get(k) for k in ("area_m2", "incidents", "open_incidents", "nearest_camera_id",
                                     "nearest_camera_m", "camera_inside", "priority",
                                     "community_code")}
    if "nearest_camera_status" in row:
        props["nearest_camera_status"] = row["nearest_camera_status"]
    for k, v in list(props.items()):
        if isinstance(v, np.generic):
            props[k] = v.item()
        if isinstance(props[k], float) and np.isnan(props[k]):
            props[k] = None
    props["rank"] = rank
    return {"type": "Feature", "id": fid, "geometry": shapely.geometry.mapping(geom),
            "properties": props}

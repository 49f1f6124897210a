"""Reading cameras and buildings for view computation, writing ``camera_views``.

SQL lives here; geometry lives in :mod:`geo.coverage.viewshed`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text

CAMERA_FIELDS = (
    "id", "code", "name", "class", "kind", "azimuth", "fov", "range_m", "height_m", "tilt",
    "resolution_px", "status",
)

_CAMERAS_SQL = """
    SELECT id, code, name, class, kind, azimuth, fov, range_m, height_m, tilt, resolution_px,
           status, ST_X(geom) AS lon, ST_Y(geom) AS lat
    FROM cameras
"""


def read_cameras(conn: Connection, ids=None) -> pd.DataFrame:
    """Cameras as a frame with ``lon``/``lat`` (all of them, or those in ``ids``)."""
    if ids is None:
        rows = conn.execute(text(_CAMERAS_SQL + " ORDER BY id"))
    else:
        rows = conn.execute(text(_CAMERAS_SQL + " WHERE id = ANY(:ids) ORDER BY id"),
                            {"ids": [int(i) for i in ids]})
    frame = pd.DataFrame(rows.mappings().all(), columns=[*CAMERA_FIELDS, "lon", "lat"])
    return frame.astype({"resolution_px": float})


def read_buildings(conn: Connection, boxes: np.ndarray | None = None) -> np.ndarray:
    """Building geometries (lon/lat) — all, or those meeting any lon/lat box (n, 4)."""
    if boxes is None:
        rows = conn.execute(text("SELECT ST_AsBinary(geom) FROM buildings ORDER BY id"))
        return shapely.from_wkb([r[0] for r in rows])
    if len(boxes) == 0:
        return np.empty(0, dtype=object)
    sql = text(
        """
        SELECT DISTINCT ON (b.id) ST_AsBinary(b.geom)
        FROM unnest(CAST(:x0 AS float8[]), CAST(:y0 AS float8[]),
                    CAST(:x1 AS float8[]), CAST(:y1 AS float8[])) AS e(x0, y0, x1, y1)
        JOIN LATERAL (
            SELECT id, geom FROM buildings
            WHERE geom && ST_MakeEnvelope(e.x0, e.y0, e.x1, e.y1, 4326)
        ) AS b ON true
        ORDER BY b.id
        """
    )
    boxes = np.asarray(boxes, dtype=float)
    names = ("x0", "y0", "x1", "y1")
    rows = conn.execute(sql, {k: boxes[:, i].tolist() for i, k in enumerate(names)})
    return shapely.from_wkb([r[0] for r in rows])


def ewkb_hex(geoms: np.ndarray) -> list[str | None]:
    """Hex EWKB (SRID 4326) of lon/lat geometries, None for missing ones."""
    geoms = shapely.set_srid(np.asarray(geoms, dtype=object), 4326)
    out = shapely.to_wkb(geoms, hex=True, include_srid=True)
    return [None if g is None else g for g in out]


def write_views(conn: Connection, camera_ids, geoms_lonlat, areas, *, replace_all: bool,
                drop_ids=()) -> int:
    """Replace the stored views of ``camera_ids`` (or of every camera) in one transaction.

    ``drop_ids`` are cameras whose view is removed (offline, fault, deleted).
    """
    camera_ids = [int(i) for i in camera_ids]
    if replace_all:
        conn.execute(text("DELETE FROM camera_views"))
    else:
        gone = camera_ids + [int(i) for i in drop_ids]
        if gone:
            conn.execute(text("DELETE FROM camera_views WHERE camera_id = ANY(:ids)"),
                         {"ids": gone})
    if not camera_ids:
        return 0
    wkb = ewkb_hex(geoms_lonlat)
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(
        "COPY camera_views (camera_id, geom, area_m2) FROM STDIN"
    ) as copy:
        for cid, g, a in zip(camera_ids, wkb, areas, strict=True):
            copy.write_row((cid, g, float(a)))
    return len(camera_ids)

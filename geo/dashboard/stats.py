"""Statistics by area: one row per 街道, 社区 or 网格 of the active grid plan.

Per unit: incidents of the window (through each incident's grid), households,
incidents per 1,000 households, cameras and cameras online (inside the unit),
and grid balance — for a grid its deviation from the target households, for a
street or community the share of its grids within the band. Each row carries
its bounding box, so the screen can zoom to it. Incidents outside every grid
are counted in no unit.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, text

from geo.dashboard.window import WHERE, Window
from geo.errors import InvalidInput

LEVELS = ("street", "community", "grid")

_GRIDS_SQL = text(
    f"""
    WITH plan AS (SELECT id FROM grid_plans WHERE status = 'active' ORDER BY id DESC LIMIT 1),
    g AS (SELECT g.id, g.code, g.name, g.community_code, g.worker,
                 coalesce(g.households, 0) AS households, g.geom
          FROM grids g JOIN plan ON g.plan_id = plan.id),
    inc AS (SELECT i.grid_id, count(*) AS n FROM incidents i
            WHERE i.grid_id IN (SELECT id FROM g) AND {WHERE} GROUP BY i.grid_id),
    cam AS (SELECT g.id, count(*) AS total, count(*) FILTER (WHERE c.status = 'online') AS online
            FROM g JOIN cameras c ON ST_Intersects(g.geom, c.geom) GROUP BY g.id)
    SELECT g.code, g.name, g.community_code, g.worker, g.households,
           coalesce(inc.n, 0) AS incidents, coalesce(cam.total, 0) AS cameras,
           coalesce(cam.online, 0) AS cameras_online,
           ST_XMin(g.geom) AS x0, ST_YMin(g.geom) AS y0, ST_XMax(g.geom) AS x1,
           ST_YMax(g.geom) AS y1
    FROM g LEFT JOIN inc ON inc.grid_id = g.id LEFT JOIN cam ON cam.id = g.id
    ORDER BY g.code
    """
)
_AREAS_SQL = text(
    """
    SELECT code, name, level, parent_code, ST_XMin(geom) AS x0, ST_YMin(geom) AS y0,
           ST_XMax(geom) AS x1, ST_YMax(geom) AS y1
    FROM admin_areas WHERE level IN ('street', 'community')
    """
)


def area_stats(engine: Engine, level: str, window: Window, target: float = 300,
               tolerance: float = 0.15) -> list[dict]:
    """Rows of ``level`` (street, community or grid) for ``window``, by code.

    Parameters
    ----------
    engine : Engine
        The database.
    level : str
        ``street``, ``community`` or ``grid``.
    window : Window
        Time window and filters of the incidents counted.
    target, tolerance : float
        The households band of a grid (target ± tolerance).

    Returns
    -------
    list of dict
        ``code, name, incidents, households, per_1000, cameras, cameras_online,
        balance, bbox`` (and ``worker``, ``community_code`` for grids).
    """
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    with engine.connect() as conn:
        grids = pd.DataFrame(conn.execute(_GRIDS_SQL, window.params()).mappings().all(),
                             columns=["code", "name", "community_code", "worker", "households",
                                      "incidents", "cameras", "cameras_online",
                                      "x0", "y0", "x1", "y1"])
        areas = pd.DataFrame(conn.execute(_AREAS_SQL).mappings().all(),
                             columns=["code", "name", "level", "parent_code",
                                      "x0", "y0", "x1", "y1"])
    lo, hi = target * (1 - tolerance), target * (1 + tolerance)
    grids["in_band"] = grids["households"].between(lo, hi)
    if level == "grid":
        grids["balance"] = (grids["households"] - target) / target
        return _rows(grids, ("worker", "community_code"))
    street_of = dict(zip(areas["code"], areas["parent_code"], strict=True))
    key = grids["community_code"]
    if level == "street":
        key = key.map(street_of)
    grouped = grids.assign(unit=key).groupby("unit", dropna=True).agg(
        incidents=("incidents", "sum"), households=("households", "sum"),
        cameras=("cameras", "sum"), cameras_online=("cameras_online", "sum"),
        grids=("code", "size"), balance=("in_band", "mean"))
    units = areas[areas["level"] == level].set_index("code")
    frame = units[["name", "x0", "y0", "x1", "y1"]].join(grouped, how="left")
    for col in ("incidents", "households", "cameras", "cameras_online", "grids"):
        frame[col] = frame[col].fillna(0).astype(int)
    return _rows(frame.reset_index(names="code").sort_values("code"), ("grids",))


def _rows(frame: pd.DataFrame, extra: tuple[str, ...]) -> list[dict]:
    out = []
    for r in frame.to_dict("records"):
        hh = int(r["households"])
        balance = r.get("balance")
        row = {
            "code": r["code"], "name": r["name"] or r["code"], "incidents": int(r["incidents"]),
            "households": hh,
            "per_1000": round(1000 * r["incidents"] / hh, 2) if hh else None,
            "cameras": int(r["cameras"]), "cameras_online": int(r["cameras_online"]),
            "balance": None if balance is None or pd.isna(balance) else round(float(balance), 4),
            "bbox": [round(float(r[k]), 6) for k in ("x0", "y0", "x1", "y1")],
        }
        row.update({k: (None if pd.isna(r[k]) else r[k]) for k in extra})
        if "grids" in row:
            row["grids"] = int(row["grids"])
        out.append(row)
    return out

"""Ground truth of a demo city: what was planted, where and when (``ground_truth.json``)."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path

import h3
import numpy as np
import shapely

from geo.demo.gistar import RES, CellGrid
from geo.demo.spec import CENTRE_LAT, CENTRE_LON, METRIC_EPSG, TZ, WEEKS, DemoSpec, Frame

SCHEMA = "onemap-demo-truth/1"


def _ll(frame: Frame, geom):
    """Local-metre geometry → lon/lat geometry."""
    def f(c: np.ndarray) -> np.ndarray:
        lon, lat = frame.to_lonlat(c[:, 0] + frame.x0, c[:, 1] + frame.y0)
        return np.c_[lon, lat]
    return shapely.transform(geom, f)


def _cluster(c, frame: Frame, start: date, end: date) -> dict:
    lon, lat = frame.to_lonlat(c.x + frame.x0, c.y + frame.y0)
    active = np.flatnonzero(c.weekly > 0)
    first = start + timedelta(days=7 * int(active[0])) if len(active) else end
    return {
        "id": c.id,
        "pattern": c.pattern,
        "centre": {"lon": round(float(lon), 7), "lat": round(float(lat), 7)},
        "h3_res9": h3.int_to_str(c.cell),
        "radius_m": round(c.radius_m, 1),
        "shape": "uniform disk",
        "start": first.isoformat(),
        "end": end.isoformat(),
        "category": c.category,
        "category_share": 0.6,
        "weekly_counts": [int(v) for v in c.weekly],
        "total": int(c.weekly.sum()),
        "gi_z_weekly": [round(float(v), 3) for v in c.z_weekly],
        "gi_z_whole_period": round(c.z_whole, 3),
        "trend_z": round(c.trend_z, 3),
        "hot_whole_period": c.pattern != "new",
        "verified": c.ok,
    }


def _gaps(gaps, frame: Frame, city) -> list[dict]:
    cams = city.cameras.to_crs(METRIC_EPSG).geometry.to_numpy()
    pts = city.incidents.geometry.to_numpy()
    lon, lat = shapely.get_x(pts), shapely.get_y(pts)
    out = []
    for k, g in enumerate(gaps):
        ll = _ll(frame, g)
        metric = shapely.transform(g, lambda c: c + np.array([frame.x0, frame.y0]))
        c = ll.centroid
        out.append({
            "id": f"G{k + 1}",
            "kind": "public_square",
            "centre": {"lon": round(c.x, 7), "lat": round(c.y, 7)},
            "area_m2": round(g.area, 1),
            "incidents": int(shapely.contains_xy(ll, lon, lat).sum()),
            "nearest_camera_m": round(float(shapely.distance(metric, cams).min()), 1),
            "geometry": shapely.geometry.mapping(ll),
        })
    return out


def build_truth(spec: DemoSpec, seed: int, start: date, end: date, frame: Frame, clusters,
                gaps, city, grid: CellGrid) -> dict:
    """The ground-truth document (JSON-ready) of one generated city."""
    from geo.demo.gaps import CLEARANCE_M

    classes = city.cameras["class"].value_counts().reindex(["A", "B", "C"], fill_value=0)
    doc = {
        "schema": SCHEMA,
        "size": spec.name,
        "seed": seed,
        "crs": "EPSG:4326",
        "metric_epsg": METRIC_EPSG,
        "centre": {"lon": CENTRE_LON, "lat": CENTRE_LAT},
        "period": {"start": start.isoformat(), "end": end.isoformat(), "end_exclusive": True,
                   "timezone": TZ, "step": "week", "steps": WEEKS},
        "counts": {name: int(len(frame_)) for name, frame_ in city.layers()},
        "households": int(city.buildings["households"].sum()),
        "camera_classes": {k: int(v) for k, v in classes.items()},
        "hotspots": {
            "h3_res": RES, "k": 1, "weights": "binary, self included (Gi*)",
            "service_cells": int(grid.n),
            "hot_z_min": 3.0,
            "clusters": [_cluster(c, frame, start, end) for c in clusters],
        },
        "camera_gaps": {"clearance_m": CLEARANCE_M, "gaps": _gaps(gaps, frame, city)},
    }
    return json.loads(json.dumps(doc))  # plain JSON types: equal to the file's content


def truth_path(data_dir: Path, size: str) -> Path:
    """Where the ground truth of a size is written."""
    return Path(data_dir) / "demo" / size / "ground_truth.json"


def write_truth(truth: dict, data_dir: Path) -> Path:
    """Write ``data/demo/<size>/ground_truth.json``; returns its path."""
    path = truth_path(data_dir, truth["size"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    return path

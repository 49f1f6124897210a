"""Administrative layout: district(s) → streets (街道) → communities (社区), with codes.

Communities are the faces of the arterial + secondary road network (small faces
merged into a neighbour); streets group whole arterial cells, so every
boundary follows a road or the city outline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon

from geo.demo.kmeans import weighted_kmeans
from geo.demo.names import COMMUNITY_STEMS, STREET_STEMS, unique_names
from geo.demo.roads import RoadNet
from geo.demo.spec import DemoSpec


@dataclass
class Area:
    """One administrative area in local metres."""

    code: str
    name: str
    level: str
    parent_code: str | None
    geom: Polygon


def faces(lines: list, boundary: Polygon) -> list[Polygon]:
    """Polygons enclosed by the lines and the outline."""
    noded = shapely.union_all(np.array(list(lines) + [boundary.exterior], dtype=object))
    polys = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inside = shapely.contains(boundary.buffer(1.0), shapely.point_on_surface(polys))
    return [p for p in polys[inside] if p.area > 1.0]


def merge_small(polys: list[Polygon], min_area: float) -> list[Polygon]:
    """Merge faces smaller than ``min_area`` into the neighbour sharing the longest edge."""
    polys = list(polys)
    while True:
        areas = np.array([p.area for p in polys])
        small = np.flatnonzero(areas < min_area)
        if len(small) == 0 or len(polys) == 1:
            return polys
        i = int(small[np.argmin(areas[small])])
        edge = polys[i].boundary
        shared = np.array([0.0 if j == i else edge.intersection(p.boundary).length
                           for j, p in enumerate(polys)])
        j = int(shared.argmax())
        if shared[j] <= 0:
            j = int(np.argmin([np.inf if k == i else polys[i].distance(p)
                               for k, p in enumerate(polys)]))
        merged = shapely.union(polys[i], polys[j]).buffer(0)
        if merged.geom_type != "Polygon":
            merged = max(shapely.get_parts(merged), key=lambda g: g.area)
        polys[j] = merged
        del polys[i]


def reading_order(polys: list[Polygon], band: float) -> np.ndarray:
    """Indices sorting polygons north→south in bands of ``band`` m, then west→east."""
    c = shapely.centroid(np.array(polys, dtype=object))
    x, y = shapely.get_x(c), shapely.get_y(c)
    return np.lexsort((x, -np.round(y / band)))


def _group(polys: list[Polygon], k: int, rng: np.random.Generator) -> np.ndarray:
    """Labels grouping polygons into ``k`` compact groups (k-means on centroids)."""
    c = shapely.centroid(np.array(polys, dtype=object))
    xy = np.c_[shapely.get_x(c), shapely.get_y(c)]
    _, labels = weighted_kmeans(xy, np.array([p.area for p in polys]), k, rng)
    return labels


def build_areas(spec: DemoSpec, boundary: Polygon, net: RoadNet,
                rng: np.random.Generator) -> list[Area]:
    """Districts, streets and communities with hierarchical codes and Chinese names."""
    cells = merge_small(faces(net.of_class("arterial"), boundary), 250_000.0)
    comms = merge_small(faces(net.of_class("arterial", "secondary"), boundary),
                         spec.min_community_m2)
    pts = shapely.point_on_surface(np.array(comms, dtype=object))
    cell_arr = np.array(cells, dtype=object)
    cell_of = np.array([int(np.argmax(shapely.contains(cell_arr, p))) for p in pts])
    n_d = len(spec.districts)
    d_label = _group(cells, n_d, rng)
    d_order = reading_order([shapely.union_all([c for c, lab in zip(cells, d_label, strict=True)
                                                if lab == d]) for d in range(n_d)], 1e9)
    street_names = unique_names(rng, STREET_STEMS, n_d * spec.streets_per_district, "街道")
    comm_names = unique_names(rng, COMMUNITY_STEMS, len(comms), "社区")
    areas: list[Area] = []
    for rank, d in enumerate(d_order):
        d_code, d_name = spec.districts[rank]
        d_cells = [i for i in range(len(cells)) if d_label[i] == d]
        s_label = _group([cells[i] for i in d_cells], spec.streets_per_district, rng)
        streets = []
        for s in np.unique(s_label):
            members = {d_cells[i] for i in np.flatnonzero(s_label == s)}
            street = [j for j in range(len(comms)) if cell_of[j] in members]
            if street:
                streets.append(street)
        street_geoms = [shapely.union_all([comms[j] for j in st]) for st in streets]
        district_geom = shapely.union_all(street_geoms)
        areas.append(Area(d_code, d_name, "district", None, district_geom))
        for s_rank, s in enumerate(reading_order(street_geoms, 1500.0)):
            s_code = f"{d_code}{s_rank + 1:03d}"
            areas.append(Area(s_code, street_names.pop(0), "street", d_code, street_geoms[s]))
            members = [comms[j] for j in streets[s]]
            for c_rank, c in enumerate(reading_order(members, 600.0)):
                areas.append(Area(f"{s_code}{c_rank + 1:03d}", comm_names.pop(0), "community",
                                  s_code, members[c]))
    return areas

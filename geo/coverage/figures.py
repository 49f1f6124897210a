"""Coverage figures per unit (city, district, street, community, grid) and camera class.

Five bases are measured at once, each for all online cameras and per class:

* **public area** — the unit minus building footprints and water; covered =
  the part inside the union of views;
* **road length** — road centre lines inside the unit; covered = inside a view;
* **key places** — ``places.key``; a point place in the open is covered when
  it is in view; a point place inside a building (a school, a hospital) when
  ``place_min_share`` of the apron around the building (``apron_m``, its
  entrances and forecourt) is; a polygon place when that share of its public
  ground is;
* **grid cells** — H3 cells (``cell_res``) whose centre lies in the unit; a cell
  is covered when ``cell_min_share`` of its public ground is in view;
* **incident demand** — incidents of the window inside the unit; covered when
  the incident (or its doorstep, see :mod:`geo.coverage.basis`) is in view.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3
import numpy as np
import pandas as pd
import shapely

from geo.coverage.basis import CLASSES, Basis
from geo.coverage.tiling import overlap_sums, points_in


def _share(part: float, whole: float) -> float | None:
    return float(part / whole) if whole > 0 else None


def _pairs_within(units: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point index, unit index) for points inside units."""
    if len(points) == 0 or len(units) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return shapely.STRtree(units).query(points, predicate="within")


def h3_cells(region_lonlat, res: int) -> tuple[np.ndarray, np.ndarray]:
    """H3 cells whose centre lies in ``region_lonlat``: (cell ids as str, lon/lat polygons)."""
    cells: set[str] = set()
    for part in shapely.get_parts(shapely.make_valid(region_lonlat)):
        if shapely.get_type_id(part) == 3:
            cells.update(h3.geo_to_cells(part.__geo_interface__, res))
    ids = np.array(sorted(cells), dtype=object)
    polys = np.array([shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)])
                      for c in ids], dtype=object)
    return ids, polys


@dataclass(frozen=True)
class PlaceSight:
    """Which unit each key place lies in, and which cameras see it.

    ``members`` are (place index, unit index) pairs; ``seen`` maps a camera class
    (None: every online camera) to one flag per place.
    """

    members: tuple[np.ndarray, np.ndarray]
    seen: dict[str | None, np.ndarray]


@dataclass(frozen=True)
class Measures:
    """Every basis measured per unit.

    ``area``, ``roads``, ``cells`` and ``incidents`` map ``"total"`` and each camera
    class (None: every online camera) to one value per unit.
    """

    area: dict[str | None, np.ndarray]
    roads: dict[str | None, np.ndarray]
    places: PlaceSight
    cells: dict[str | None, np.ndarray]
    incidents: dict[str | None, np.ndarray]


class CoverageFigures:
    """Coverage of a set of units over several bases, overall and per camera class.

    Parameters
    ----------
    cell_res : int
        H3 resolution of the cell basis.
    cell_min_share, place_min_share : float
        Share of its public ground that must be in view for a cell / a place.
    apron_m : float
        A point place inside a building is seen through the ground within
        this distance around the building (its entrances and forecourt).

    Attributes
    ----------
    units_ : list of dict
        One record per unit: totals of each basis, what is covered by all
        online cameras, the key places listed, and ``by_class`` (A, B, C).
    places_ : DataFrame
        The key places the listings refer to.
    """

    def __init__(self, cell_res: int = 10, cell_min_share: float = 0.5,
                 place_min_share: float = 0.25, apron_m: float = 5.0):
        self.cell_res = cell_res
        self.cell_min_share = cell_min_share
        self.place_min_share = place_min_share
        self.apron_m = apron_m

    def fit(self, basis: Basis, units: pd.DataFrame) -> CoverageFigures:
        """Measure every unit of ``units`` (metric ``geometry``, ``lonlat``) against ``basis``."""
        geoms = units["geometry"].to_numpy()
        self.places_ = basis.places
        basis.setup_tiles(shapely.total_bounds(geoms))
        kinds = (None, *CLASSES)
        rec = Measures(area=self._areas(basis, geoms, kinds),
                       roads=self._roads(basis, geoms, kinds),
                       places=self._places(basis, geoms, kinds),
                       cells=self._cells(basis, units, kinds),
                       incidents=self._incidents(basis, geoms, kinds))
        self.units_ = [self._record(units.iloc[i], rec, i) for i in range(len(units))]
        return self

    # -- bases -------------------------------------------------------------------------------

    def _areas(self, basis: Basis, geoms, kinds) -> dict:
        total = shapely.area(geoms) - overlap_sums(geoms, basis.obstacle_parts())
        return {"total": total, **{k: overlap_sums(geoms, basis.cover(k)) for k in kinds}}

    def _roads(self, basis: Basis, geoms, kinds) -> dict:
        n = len(geoms)
        if len(basis.roads) == 0:
            return {"total": np.zeros(n), **{k: np.zeros(n) for k in kinds}}
        ui, ri = shapely.STRtree(basis.roads).query(geoms, predicate="intersects")
        pieces = shapely.intersection(geoms[ui], basis.roads[ri])
        out = {"total": np.bincount(ui, weights=shapely.length(pieces), minlength=n)}
        for k in kinds:
            covered = overlap_sums(pieces, basis.cover(k, public=False), "length")
            out[k] = np.bincount(ui, weights=covered, minlength=n)
        return out

    def _places(self, basis: Basis, geoms, kinds) -> PlaceSight:
        p = basis.places
        n = len(p)
        seen = {k: np.zeros(n, dtype=bool) for k in kinds}
        members = (np.empty(0, dtype=np.int64),) * 2
        if n:
            g = p["geometry"].to_numpy()
            members = _pairs_within(geoms, shapely.point_on_surface(g))
            ground = self._place_ground(basis, g)
            point = shapely.get_type_id(ground) == 0
            areas = ground[~point]
            public = shapely.area(areas)
            for k in kinds:
                seen[k][point] = points_in(basis.cover(k), ground[point])
                got = overlap_sums(areas, basis.cover(k))
                seen[k][~point] = (public > 0) & (got >= self.place_min_share * public)
        return PlaceSight(members, seen)

    def _place_ground(self, basis: Basis, g: np.ndarray) -> np.ndarray:
        """What must be seen of each place.

        The point itself in the open; for a point inside a building, the apron
        around that building; for a polygon, its public part.
        """
        out = g.copy()
        obstacles = basis.obstacle_parts()
        tree = shapely.STRtree(basis.footprints)
        is_point = shapely.get_type_id(g) == 0
        pi, fi = tree.query(g[is_point], predicate="within")
        apron = np.flatnonzero(is_point)[pi]
        out[apron] = shapely.buffer(basis.footprints[fi], self.apron_m)
        polys = np.flatnonzero(shapely.get_type_id(out) != 0)
        o_tree = shapely.STRtree(obstacles)
        for i in polys:
            hits = o_tree.query(out[i], predicate="intersects")
            if len(hits):
                out[i] = shapely.difference(out[i], shapely.union_all(obstacles[hits]))
        return out

    def _cells(self, basis: Basis, units: pd.DataFrame, kinds) -> dict:
        ids, polys = h3_cells(shapely.union_all(units["lonlat"].to_numpy()), self.cell_res)
        n = len(units)
        if len(ids) == 0:
            return {"total": np.zeros(n), **{k: np.zeros(n) for k in kinds}}
        cells = basis.proj.to_metric(polys)
        public = shapely.area(cells) - overlap_sums(cells, basis.obstacle_parts())
        centres = basis.proj.to_metric(shapely.points([h3.cell_to_latlng(c)[::-1] for c in ids]))
        ci, ui = _pairs_within(units["geometry"].to_numpy(), centres)
        live = public[ci] > 1.0
        ci, ui = ci[live], ui[live]
        out = {"total": np.bincount(ui, minlength=n).astype(float)}
        for k in kinds:
            ok = overlap_sums(cells, basis.cover(k)) >= self.cell_min_share * public
            out[k] = np.bincount(ui, weights=ok[ci].astype(float), minlength=n)
        return out

    def _incidents(self, basis: Basis, geoms, kinds) -> dict:
        n = len(geoms)
        pi, ui = _pairs_within(geoms, basis.incident_points())
        out = {"total": np.bincount(ui, minlength=n).astype(float)}
        doorsteps = basis.incident_points(doorstep=True)
        for k in kinds:
            hit = points_in(basis.cover(k), doorsteps)
            out[k] = np.bincount(ui, weights=hit[pi].astype(float), minlength=n)
        return out

    # -- records -----------------------------------------------------------------------------

    def _covered(self, rec: Measures, i: int, k) -> dict:
        a, r, c, q = rec.area, rec.roads, rec.cells, rec.incidents
        pi, ui = rec.places.members
        mine = pi[ui == i]
        seen = rec.places.seen[k][mine]
        return {
            "covered_area_m2": float(a[k][i]), "area_share": _share(a[k][i], a["total"][i]),
            "road_covered_m": float(r[k][i]), "road_share": _share(r[k][i], r["total"][i]),
            "key_places_covered": int(seen.sum()),
            "key_place_share": _share(seen.sum(), len(mine)),
            "cells_covered": int(c[k][i]), "cell_share": _share(c[k][i], c["total"][i]),
            "incidents_covered": int(q[k][i]), "incident_share": _share(q[k][i], q["total"][i]),
        }

    def _record(self, unit: pd.Series, rec: Measures, i: int) -> dict:
        places = self.places_
        pi, ui = rec.places.members
        mine = pi[ui == i]
        seen = rec.places.seen[None][mine]

        def listing(ix):
            return [{"id": int(places["id"].iloc[j]), "name": places["name"].iloc[j],
                     "kind": places["kind"].iloc[j]} for j in ix]

        return {
            "code": unit["code"], "name": unit["name"], "level": unit["level"],
            "parent_code": unit["parent_code"],
            "public_area_m2": float(rec.area["total"][i]),
            "road_m": float(rec.roads["total"][i]),
            "key_places": int(len(mine)),
            "cells": int(rec.cells["total"][i]),
            "incidents": int(rec.incidents["total"][i]),
            **self._covered(rec, i, None),
            "key_places_list": {"covered": listing(mine[seen]), "uncovered": listing(mine[~seen])},
            "by_class": {k: self._covered(rec, i, k) for k in CLASSES},
        }

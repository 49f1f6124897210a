"""Coverage gaps: public ground no online camera sees, cut into ranked pieces.

The uncovered public ground of a city is one sprawling connected polygon, so it
is cut along community boundaries and an H3 lattice (``cell_res``, 10 by
default: cells of about 1.5 ha, edge ≈ 66 m — about what one or two new
cameras can take in, so "incidents inside" compares like with like). Each
piece of at least ``min_area`` m² is a gap, with

* ``incidents`` — incidents of the window that happened inside it;
* ``open_incidents`` — those of them out in the open, farther than
  ``attach_m`` (15 m) from any building. Incidents at a building — its water,
  heating, neighbours, geocoded to its address — are its occupants' matters
  that no street camera sees; what happens in squares, parks and streets is
  what a camera is for;
* the nearest camera (any status — an offline camera next to a gap is the
  cheapest fix) and its distance to the gap. It is 0 m when the camera stands
  in or on the gap — the ground behind a bullet camera or under a mast that its
  own tilt leaves unseen (灯下黑) — and ``camera_inside`` says so, so a reader
  sees "re-aim this camera", not a broken distance;
* ``priority = open_incidents + area_weight · area_m2 / 10 000`` — the
  open-ground incidents an added camera could see, plus (by default) one per
  hectare of unseen ground, so quiet but large gaps still rank above quiet
  small ones.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import shapely

from geo.coverage.basis import Basis
from geo.coverage.figures import h3_cells
from geo.coverage.tiling import union_by

#: A camera this close to a gap stands on it (the gap is ground it leaves unseen).
ON_EDGE_M = 0.5


class GapFinder:
    """Uncovered public-ground pieces, ranked.

    Parameters
    ----------
    cell_res : int
        H3 resolution of the cutting lattice.
    min_area : float
        Smallest gap kept, m².
    area_weight : float
        Priority points per hectare of gap.
    attach_m : float
        Incidents within this distance of a building are its occupants' matters
        (water, heating, neighbours): they are counted in ``incidents`` but not
        in ``open_incidents``, which drives the priority.

    Attributes
    ----------
    gaps_ : DataFrame
        ``geometry`` (metric), ``area_m2``, ``incidents``, ``open_incidents``,
        ``nearest_camera_id``, ``nearest_camera_m``, ``priority``,
        ``community_code``; best first.
    """

    def __init__(self, cell_res: int = 10, min_area: float = 200.0, area_weight: float = 1.0,
                 attach_m: float = 15.0):
        self.cell_res = cell_res
        self.min_area = min_area
        self.area_weight = area_weight
        self.attach_m = attach_m

    def fit(self, basis: Basis, areas: pd.DataFrame) -> GapFinder:
        """Find the gaps inside ``areas`` (metric ``geometry``, ``lonlat``, ``code``)."""
        geoms = areas["geometry"].to_numpy()
        basis.setup_tiles(shapely.total_bounds(geoms))
        free_ids, free = self._free_tiles(basis, geoms)
        pieces, codes = self._pieces(basis, areas)
        pi, fi = shapely.STRtree(free).query(pieces, predicate="intersects")
        bits = shapely.intersection(pieces[pi], free[fi])
        owners, merged = union_by(bits, pi)
        parts, owner = shapely.get_parts(merged, return_index=True)
        keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) >= self.min_area)
        self.gaps_ = self._rank(basis, parts[keep], codes[owners][owner[keep]])
        return self

    @staticmethod
    def _free_tiles(basis: Basis, geoms) -> tuple[np.ndarray, np.ndarray]:
        """Each tile meeting the areas minus its obstacles and its views."""
        _, tid = basis.tiling.pairs(geoms)
        tiles = np.unique(tid)
        blockers = np.full(len(tiles), None, dtype=object)
        for ids, unions in (basis.obstacle_tiles(), basis._class_tiles(None)):
            _, at, au = np.intersect1d(tiles, ids, return_indices=True)
            both = ~shapely.is_missing(blockers[at])
            blockers[at[both]] = shapely.union(blockers[at[both]], unions[au[both]])
            blockers[at[~both]] = unions[au[~both]]
        free = basis.tiling.boxes(tiles)
        has = ~shapely.is_missing(blockers)
        free[has] = shapely.difference(free[has], blockers[has])
        keep = ~shapely.is_empty(free)
        return tiles[keep], free[keep]

    def _pieces(self, basis: Basis, areas: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Areas cut by the H3 lattice (cells reaching one edge beyond the areas)."""
        region = shapely.union_all(areas["geometry"].to_numpy())
        edge = h3.average_hexagon_edge_length(self.cell_res, "m")
        grown = basis.proj.to_lonlat(np.array([region.buffer(1.5 * edge)], dtype=object))[0]
        _, cells = h3_cells(grown, self.cell_res)
        cells = basis.proj.to_metric(cells)
        geoms = areas["geometry"].to_numpy()
        ai, ci = shapely.STRtree(cells).query(geoms, predicate="intersects")
        pieces = shapely.intersection(geoms[ai], cells[ci])
        ok = ~shapely.is_empty(pieces)
        return pieces[ok], areas["code"].to_numpy()[ai[ok]]

    def _rank(self, basis: Basis, gaps: np.ndarray, codes: np.ndarray) -> pd.DataFrame:
        counts = np.zeros(len(gaps), dtype=np.int64)
        open_counts = np.zeros(len(gaps), dtype=np.int64)
        pts = basis.incident_points()
        if len(gaps) and len(pts):
            pi, gi = shapely.STRtree(gaps).query(pts, predicate="within")
            counts = np.bincount(gi, minlength=len(gaps))
            is_open = basis.open_ground(self.attach_m)[pi]
            open_counts = np.bincount(gi[is_open], minlength=len(gaps))
        cam_id, cam_m, inside = self._nearest(basis, gaps)
        area = shapely.area(gaps)
        frame = pd.DataFrame({
            "geometry": gaps, "area_m2": area, "incidents": counts,
            "open_incidents": open_counts,
            "nearest_camera_id": cam_id, "nearest_camera_m": cam_m, "camera_inside": inside,
            "priority": open_counts + self.area_weight * area / 10_000.0,
            "community_code": codes,
        })
        return frame.sort_values(["priority", "area_m2"], ascending=False, ignore_index=True)

    @staticmethod
    def _nearest(basis: Basis, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cams = basis.cameras
        ids = np.full(len(gaps), None, dtype=object)
        dist = np.full(len(gaps), np.nan)
        inside = np.zeros(len(gaps), dtype=bool)
        if len(cams) == 0 or len(gaps) == 0:
            return ids, dist, inside
        x, y = basis.proj.xy_to_metric(cams["lon"].to_numpy(float), cams["lat"].to_numpy(float))
        tree = shapely.STRtree(shapely.points(x, y))
        (gi, ci), d = tree.query_nearest(gaps, return_distance=True, all_matches=False)
        ids[gi] = cams["id"].to_numpy()[ci]
        dist[gi] = d
        inside[gi] = d < ON_EDGE_M
        return ids, dist, inside


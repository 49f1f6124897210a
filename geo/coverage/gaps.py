"""Coverage gaps: public ground no online camera sees, cut into ranked pieces.

The uncovered public ground of a city is one sprawling connected polygon, so it
is cut along community boundaries and an H3 lattice (``cell_res``, 9 by
default: cells of about 0.1 km²). Each piece of at least ``min_area`` m² is a
gap, with

* ``incidents`` — incidents of the window inside it (indoor incidents count at
  their doorstep, see :mod:`geo.coverage.basis`);
* the nearest camera (any status — an offline camera next to a gap is the
  cheapest fix) and its distance;
* ``priority = incidents + area_weight · area_m2 / 10 000`` — the incidents
  an added camera could see, plus (by default) one per hectare of unseen
  ground, so quiet but large gaps still rank above quiet small ones.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import shapely

from geo.coverage.basis import Basis
from geo.coverage.figures import h3_cells


def _union_near(piece, parts: np.ndarray, tree: shapely.STRtree):
    hits = tree.query(piece, predicate="intersects")
    return shapely.union_all(parts[hits]) if len(hits) else None


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

    Attributes
    ----------
    gaps_ : DataFrame
        ``geometry`` (metric), ``area_m2``, ``incidents``, ``nearest_camera_id``,
        ``nearest_camera_m``, ``priority``, ``community_code``; best first.
    """

    def __init__(self, cell_res: int = 9, min_area: float = 200.0, area_weight: float = 1.0):
        self.cell_res = cell_res
        self.min_area = min_area
        self.area_weight = area_weight

    def fit(self, basis: Basis, areas: pd.DataFrame) -> GapFinder:
        """Find the gaps inside ``areas`` (metric ``geometry``, ``lonlat``, ``code``)."""
        geoms = areas["geometry"].to_numpy()
        basis.setup_tiles(shapely.total_bounds(geoms))
        pieces, codes = self._pieces(basis, areas)
        obstacles, cover = basis.obstacle_parts(), basis.cover(None)
        o_tree, c_tree = shapely.STRtree(obstacles), shapely.STRtree(cover)
        holes = []
        for piece in pieces:
            blockers = [g for g in (_union_near(piece, obstacles, o_tree),
                                    _union_near(piece, cover, c_tree)) if g is not None]
            holes.append(shapely.union_all(blockers) if blockers else None)
        holes = np.array(holes, dtype=object)
        has = ~shapely.is_missing(holes)
        free = pieces.copy()
        free[has] = shapely.difference(pieces[has], holes[has])
        parts, owner = shapely.get_parts(free, return_index=True)
        keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) >= self.min_area)
        self.gaps_ = self._rank(basis, parts[keep], codes[owner[keep]])
        return self

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
        inc = basis.incidents
        counts = np.zeros(len(gaps), dtype=np.int64)
        if len(gaps) and len(inc):
            pts = shapely.points(inc["sx"].to_numpy(float), inc["sy"].to_numpy(float))
            _, gi = shapely.STRtree(gaps).query(pts, predicate="within")
            counts = np.bincount(gi, minlength=len(gaps))
        cam_id, cam_m = self._nearest(basis, gaps)
        area = shapely.area(gaps)
        frame = pd.DataFrame({
            "geometry": gaps, "area_m2": area, "incidents": counts,
            "nearest_camera_id": cam_id, "nearest_camera_m": cam_m,
            "priority": counts + self.area_weight * area / 10_000.0,
            "community_code": codes,
        })
        return frame.sort_values(["priority", "area_m2"], ascending=False, ignore_index=True)

    @staticmethod
    def _nearest(basis: Basis, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cams = basis.cameras
        ids = np.full(len(gaps), None, dtype=object)
        dist = np.full(len(gaps), np.nan)
        if len(cams) == 0 or len(gaps) == 0:
            return ids, dist
        x, y = basis.proj.xy_to_metric(cams["lon"].to_numpy(float), cams["lat"].to_numpy(float))
        tree = shapely.STRtree(shapely.points(x, y))
        (gi, ci), d = tree.query_nearest(gaps, return_distance=True, all_matches=False)
        ids[gi] = cams["id"].to_numpy()[ci]
        dist[gi] = d
        return ids, dist


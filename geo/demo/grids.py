"""The existing ("现状") grids: plausible but imperfect ~300-household cells.

Per community, k-means of residential building centroids (weighted by
households) gives ``round(households / 300)`` centres; their Voronoi cells clipped
to the community are the grids. Real grids drawn by hand are no better balanced,
which leaves the grid planner something to improve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPoint

from geo.demo.kmeans import weighted_kmeans
from geo.demo.layout import Area, reading_order
from geo.demo.names import person_names

TARGET_HOUSEHOLDS = 300


def _cells(poly, centres: np.ndarray) -> list:
    """Voronoi cells of the centres clipped to ``poly`` (non-empty ones)."""
    centres = np.unique(np.round(centres, 3), axis=0)
    if len(centres) < 2:
        return [poly]
    vor = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(centres),
                                                     extend_to=poly.buffer(500)))
    clipped = shapely.intersection(vor, poly)
    clipped = clipped[~shapely.is_empty(clipped) & (shapely.area(clipped) > 1.0)]
    return list(clipped)


def make_grids(communities: list[Area], buildings: pd.DataFrame,
               rng: np.random.Generator) -> pd.DataFrame:
    """Grid polygons (local metres) with code, name, community_code and worker."""
    cent = shapely.centroid(buildings["geometry"].to_numpy())
    xy = np.c_[shapely.get_x(cent), shapely.get_y(cent)]
    hh = buildings["households"].to_numpy()
    by_comm = buildings.groupby("community_code").indices
    rows = []
    for area in communities:
        idx = by_comm.get(area.code, np.array([], dtype=int))
        idx = idx[hh[idx] > 0]
        k = max(1, int(round(hh[idx].sum() / TARGET_HOUSEHOLDS)))
        if k == 1 or len(idx) < 2:
            cells = [area.geom]
        else:
            centres, _ = weighted_kmeans(xy[idx], hh[idx], k, rng)
            cells = _cells(area.geom, centres)
        for seq, i in enumerate(reading_order(cells, 150.0)):
            rows.append({"code": f"{area.code}{seq + 1:03d}", "name": f"{area.name}第{seq + 1}网格",
                         "community_code": area.code, "geometry": cells[i]})
    df = pd.DataFrame(rows)
    df["worker"] = person_names(rng, len(df))
    return df

"""Planted camera gaps: public squares with incidents and no camera anywhere near."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.demo.blocks import Blocks
from geo.demo.cameras import TYPICAL_RANGE_M

#: Cameras are kept this far (m) from a planted gap (and beyond their own range).
CLEARANCE_M = 1.5 * TYPICAL_RANGE_M
MIN_SEPARATION_M = 900.0


def choose_gaps(blocks: Blocks, n: int, boundary, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` mid-sized blocks, far apart and inside the city, turned into squares."""
    area = shapely.area(blocks.geoms)
    ok = (area > 15_000) & (area < 90_000)
    ok &= shapely.distance(boundary.exterior, blocks.geoms) > 300
    cand = rng.permutation(np.flatnonzero(ok))
    cent = shapely.centroid(blocks.geoms)
    chosen: list[int] = []
    for i in cand:
        if all(shapely.distance(cent[i], cent[j]) > MIN_SEPARATION_M for j in chosen):
            chosen.append(int(i))
        if len(chosen) == n:
            break
    blocks.use[chosen] = "park"
    return np.array(chosen, dtype=int)


def clear_cameras(cams: pd.DataFrame, gaps: np.ndarray) -> pd.DataFrame:
    """Drop cameras within the clearance of a gap, or close enough to see into it."""
    if len(gaps) == 0:
        return cams
    union = shapely.union_all(gaps)
    d = shapely.distance(cams["geometry"].to_numpy(), union)
    keep = d > np.maximum(CLEARANCE_M, cams["range_m"].to_numpy() + 10.0)
    return cams[keep]

"""Unions cut into square tiles, and sums of overlaps with them.

Unioning thousands of views into one polygon is slow and the result is a huge
polygon that is slow to intersect. Instead, geometries are clipped to square
tiles and unioned per tile: the pieces of all tiles are pairwise disjoint (they
meet only along tile edges), so any area or length measured against the union
is a plain sum over pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

#: Offset of the tile lattice so axis-aligned data rarely runs along a tile edge.
_SHIFT = 0.318309886


@dataclass(frozen=True)
class Tiling:
    """A square lattice over a metric extent."""

    x0: float
    y0: float
    size: float
    nx: int
    ny: int

    @classmethod
    def over(cls, bounds, size: float = 250.0) -> Tiling:
        """Tiles covering ``bounds`` (xmin, ymin, xmax, ymax)."""
        xmin, ymin, xmax, ymax = (float(b) for b in bounds)
        x0, y0 = xmin - _SHIFT * size, ymin - _SHIFT * size
        nx = max(1, int(np.ceil((xmax - x0) / size)) + 1)
        ny = max(1, int(np.ceil((ymax - y0) / size)) + 1)
        return cls(x0, y0, size, nx, ny)

    def boxes(self, ids: np.ndarray) -> np.ndarray:
        """Polygons of tiles ``ids`` (row-major: id = iy · nx + ix)."""
        ix, iy = ids % self.nx, ids // self.nx
        x, y = self.x0 + ix * self.size, self.y0 + iy * self.size
        return shapely.box(x, y, x + self.size, y + self.size)

    def pairs(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(geometry index, tile id) for every tile a geometry's bounding box meets."""
        b = shapely.bounds(geoms)
        ok = np.isfinite(b).all(axis=1)
        idx = np.flatnonzero(ok)
        b = b[ok]
        lo_x = np.clip(((b[:, 0] - self.x0) // self.size).astype(np.int64), 0, self.nx - 1)
        hi_x = np.clip(((b[:, 2] - self.x0) // self.size).astype(np.int64), 0, self.nx - 1)
        lo_y = np.clip(((b[:, 1] - self.y0) // self.size).astype(np.int64), 0, self.ny - 1)
        hi_y = np.clip(((b[:, 3] - self.y0) // self.size).astype(np.int64), 0, self.ny - 1)
        wx, wy = hi_x - lo_x + 1, hi_y - lo_y + 1
        count = wx * wy
        gi = np.repeat(idx, count)
        k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        rx = np.repeat(lo_x, count) + k % np.repeat(wx, count)
        ry = np.repeat(lo_y, count) + k // np.repeat(wx, count)
        return gi, ry * self.nx + rx


def union_by(geoms: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of ``geoms`` per key → (sorted unique keys, one geometry per key).

    Works for empty input (two empty arrays); single members are passed through.
    """
    geoms = np.asarray(geoms, dtype=object)
    keys = np.asarray(keys)
    if len(keys) == 0:
        return keys[:0], np.empty(0, dtype=object)
    order = np.argsort(keys, kind="stable")
    geoms, keys = geoms[order], keys[order]
    uniq, starts = np.unique(keys, return_index=True)
    ends = np.r_[starts[1:], len(keys)]
    unions = np.array([geoms[a] if b - a == 1 else shapely.union_all(geoms[a:b])
                       for a, b in zip(starts, ends, strict=True)], dtype=object)
    return uniq, unions


def tiled_union(geoms, tiling: Tiling) -> tuple[np.ndarray, np.ndarray]:
    """Union of ``geoms`` per tile → (tile ids, one geometry per tile)."""
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[~shapely.is_missing(geoms)]
    if len(geoms) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    gi, tid = tiling.pairs(geoms)
    clipped = shapely.intersection(geoms[gi], tiling.boxes(tid))
    keep = ~shapely.is_empty(clipped)
    return union_by(clipped[keep], tid[keep])


def polygon_parts(geoms: np.ndarray) -> np.ndarray:
    """The non-empty polygons inside ``geoms`` (exploded)."""
    parts = shapely.get_parts(np.asarray(geoms, dtype=object))
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return parts[keep]


def subtract_per_tile(tiles_a, union_a, tiles_b, union_b) -> np.ndarray:
    """``union_a`` minus ``union_b`` tile by tile (b-tiles that a lacks are ignored)."""
    out = union_a.copy()
    common, ia, ib = np.intersect1d(tiles_a, tiles_b, return_indices=True)
    if len(common):
        out[ia] = shapely.difference(union_a[ia], union_b[ib])
    return out


def overlap_sums(regions, parts, measure: str = "area") -> np.ndarray:
    """Σ over ``parts`` of the area (or length) of ``region ∩ part``, per region.

    ``parts`` must be pairwise disjoint (e.g. :func:`polygon_parts` of a tiled
    union) for the sum to equal the measure of ``region ∩ ∪parts``; for
    ``measure="length"`` the regions are lines and the parts polygons.
    """
    regions = np.asarray(regions, dtype=object)
    out = np.zeros(len(regions))
    if len(regions) == 0 or len(parts) == 0:
        return out
    tree = shapely.STRtree(parts)
    ri, pi = tree.query(regions, predicate="intersects")
    if len(ri) == 0:
        return out
    fn = shapely.area if measure == "area" else shapely.length
    inside = np.zeros(len(ri), dtype=bool)
    if measure == "area":
        shapely.prepare(regions)
        inside = shapely.contains_properly(regions[ri], parts[pi])
    vals = np.empty(len(ri))
    vals[inside] = shapely.area(parts[pi[inside]])
    rest = ~inside
    vals[rest] = fn(shapely.intersection(regions[ri[rest]], parts[pi[rest]]))
    return np.bincount(ri, weights=vals, minlength=len(regions))


def points_in(parts, x, y=None) -> np.ndarray:
    """Boolean per point: inside any of ``parts``. Points as ``x, y`` or a shapely array ``x``."""
    pts = np.asarray(x, dtype=object) if y is None else shapely.points(np.asarray(x, float),
                                                                       np.asarray(y, float))
    hit = np.zeros(len(pts), dtype=bool)
    if len(pts) == 0 or len(parts) == 0:
        return hit
    tree = shapely.STRtree(parts)
    pi, _ = tree.query(pts, predicate="intersects")
    hit[pi] = True
    return hit

"""Cells of buildings and the building adjacency graph.

Each building (atom) owns the part of its community nearest to it: the Voronoi
cell of its point clipped to the region (community minus locked grids). The
cells tile the region exactly, so any grouping of atoms dissolves into grid
polygons with no gaps and no overlaps. Two atoms are neighbours when their cells
share a boundary of positive length, which makes graph contiguity and polygon
contiguity the same thing. Edges whose straight line crosses an arterial road or
the river keep only a small share of their weight, so the partition cuts there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import Delaunay, QhullError, cKDTree

MIN_SHARED_M = 0.01


@dataclass
class AtomGraph:
    """Cells and the weighted adjacency of the atoms of one region.

    Attributes
    ----------
    points : ndarray (n, 2)
        Metric coordinates of the atoms.
    cells : ndarray of shapely geometries (n,)
        Voronoi cell of each atom clipped to its block of the region (may be
        empty when the point lies outside the region).
    leftover : ndarray of shapely geometries
        Blocks of the region (between barriers) without any atom.
    adjacency : scipy.sparse.csr_array (n, n)
        Symmetric edge weights (metres of shared boundary, barrier edges
        down-weighted, minimum 1).
    crossing : scipy.sparse.csr_array (n, n)
        1 where the edge crosses a barrier.
    """

    points: np.ndarray
    cells: np.ndarray
    leftover: np.ndarray
    adjacency: sparse.csr_array
    crossing: sparse.csr_array


def voronoi_cells(points: np.ndarray, region) -> np.ndarray:
    """Voronoi cells of distinct ``points`` clipped to ``region``, in input order.

    Parameters
    ----------
    points : ndarray (n, 2)
        Distinct coordinates (metres).
    region : shapely Polygon or MultiPolygon
        What the cells tile.

    Returns
    -------
    ndarray of geometries (n,)

    Examples
    --------
    >>> import shapely
    >>> cells = voronoi_cells(np.array([[0.0, 0.0], [10.0, 0.0]]), shapely.box(-5, -5, 15, 5))
    >>> [round(c.area) for c in cells]
    [100, 100]
    """
    n = len(points)
    if n == 0:
        return np.empty(0, dtype=object)
    if n == 1:
        return np.array([region], dtype=object)
    x0, y0, x1, y1 = region.bounds
    px0, py0 = points.min(axis=0)
    px1, py1 = points.max(axis=0)
    pad = max(x1 - x0, y1 - y0, px1 - px0, py1 - py0, 1.0)
    env = shapely.box(
        min(x0, px0) - pad, min(y0, py0) - pad, max(x1, px1) + pad, max(y1, py1) + pad
    )
    diagram = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=env, ordered=True)
    cells = np.asarray(shapely.get_parts(diagram), dtype=object)
    if len(cells) != n:  # degenerate input (should not happen for distinct points)
        raise ValueError(f"voronoi returned {len(cells)} cells for {n} points")
    shapely.prepare(region)
    clipped = cells.copy()
    cut = ~shapely.contains_properly(region, cells)  # cells well inside stay as they are
    apart = cut & ~shapely.intersects(region, cells)  # e.g. most cells over a lone park
    clipped[apart] = shapely.Polygon()
    cut &= ~apart
    clipped[cut] = shapely.intersection(cells[cut], region)
    return clipped


def split_region(region, barriers) -> np.ndarray:
    """Blocks of ``region`` cut by the barrier lines (the region itself when none cuts it)."""
    if barriers is None or len(barriers) == 0:
        return np.array([region], dtype=object)
    lines = shapely.intersection(shapely.union_all(barriers), region)
    if lines.is_empty or shapely.length(lines) == 0:
        return np.array([region], dtype=object)
    noded = shapely.union_all([shapely.boundary(region), lines])
    pieces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    inside = shapely.within(shapely.point_on_surface(pieces), region) if len(pieces) else []
    blocks = np.asarray(pieces, dtype=object)[np.asarray(inside, dtype=bool)]
    return blocks if len(blocks) else np.array([region], dtype=object)


def block_cells(
    points: np.ndarray, region, barriers=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of ``points`` tiling ``region`` without crossing barriers.

    The region is cut into blocks by the barriers and each block is tiled by the
    atoms inside it. Returns the cells, the blocks that hold no atom (to be
    given to a neighbouring grid) and the block of every point.
    """
    blocks = split_region(region, barriers)
    if len(blocks) == 1:
        whole = np.zeros(len(points), dtype=np.int64)
        return voronoi_cells(points, region), np.empty(0, dtype=object), whole
    pts = shapely.points(points)
    tree = shapely.STRtree(blocks)
    block_of = tree.nearest(pts)
    cells = np.empty(len(points), dtype=object)
    empty = []
    for b, block in enumerate(blocks):
        idx = np.flatnonzero(block_of == b)
        if len(idx) == 0:
            empty.append(block)
        else:
            cells[idx] = voronoi_cells(points[idx], block)
    return cells, np.asarray(empty, dtype=object), block_of


def candidate_pairs(points: np.ndarray) -> np.ndarray:
    """Delaunay edges ``(i, j)``, i < j: the only pairs whose cells can share an edge."""
    n = len(points)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    if n <= 3:
        i, j = np.triu_indices(n, 1)
        return np.column_stack([i, j])
    try:
        tri = Delaunay(points, qhull_options="QJ Qbb Qc")
    except QhullError:
        i, j = np.triu_indices(n, 1)
        return np.column_stack([i, j])
    s = tri.simplices.astype(np.int64)
    a = np.concatenate([s[:, 0], s[:, 1], s[:, 0]])
    b = np.concatenate([s[:, 1], s[:, 2], s[:, 2]])
    key = np.unique(np.minimum(a, b) * n + np.maximum(a, b))  # sorted as the pairs (i, j)
    return np.column_stack([key // n, key % n])


def shared_lengths(
    cells: np.ndarray,
    pairs: np.ndarray,
    one_diagram: np.ndarray | None = None,
    snap_m: float = 1e-3,
) -> np.ndarray:
    """Length of the border each pair of cells shares.

    Cells cut from one Voronoi diagram (``one_diagram`` True for the pair; all
    by default) meet along whole edges that both rings hold (same end points up
    to rounding), so those edges are matched by their end points snapped to
    ``snap_m``: no overlay. Other pairs (cells of different blocks meeting
    along a barrier) and pairs the matching finds nothing for (a rounding miss)
    are measured by intersecting their polygons.

    Examples
    --------
    >>> import shapely
    >>> cells = shapely.box(np.array([0, 1, 0]), np.array([0, 0, 1]),
    ...                     np.array([1, 2, 2]), np.array([1, 1, 2]))
    >>> shared_lengths(cells, np.array([[0, 1], [0, 2], [1, 2]])).tolist()
    [1.0, 1.0, 1.0]
    """
    n = len(cells)
    lines, owner_of_line = shapely.get_parts(shapely.boundary(cells), return_index=True)
    xy, line = shapely.get_coordinates(lines, return_index=True)
    inner = line[1:] == line[:-1]
    a, b = xy[:-1][inner], xy[1:][inner]
    owner = owner_of_line[line[:-1][inner]].astype(np.int64)
    ka, kb = np.rint(a / snap_m).astype(np.int64), np.rint(b / snap_m).astype(np.int64)
    flip = (ka[:, 0] > kb[:, 0]) | ((ka[:, 0] == kb[:, 0]) & (ka[:, 1] > kb[:, 1]))
    key = np.where(flip[:, None], np.hstack([kb, ka]), np.hstack([ka, kb]))
    order = np.lexsort((owner, *key.T[::-1]))
    key, owner = key[order], owner[order]
    length = np.hypot(*(b - a)[order].T)
    twin = (key[1:] == key[:-1]).all(axis=1) & (owner[1:] != owner[:-1])
    edge = np.minimum(owner[:-1], owner[1:])[twin] * n + np.maximum(owner[:-1], owner[1:])[twin]
    found, total = np.unique(edge, return_inverse=True)
    total = np.bincount(total.ravel(), length[:-1][twin], minlength=len(found))
    wanted = pairs[:, 0].astype(np.int64) * n + pairs[:, 1]
    at = np.minimum(np.searchsorted(found, wanted), max(len(found) - 1, 0))
    hit = found[at] == wanted if len(found) else np.zeros(len(wanted), dtype=bool)
    out = np.where(hit, total[at] if len(found) else 0.0, 0.0)
    if one_diagram is not None:
        hit &= one_diagram
    miss = np.flatnonzero(~hit)
    if len(miss):
        out[miss] = shapely.length(
            shapely.intersection(cells[pairs[miss, 0]], cells[pairs[miss, 1]])
        )
    return out


def crossing_mask(points: np.ndarray, pairs: np.ndarray, barriers: np.ndarray | None) -> np.ndarray:
    """True for pairs whose straight segment crosses a barrier line."""
    mask = np.zeros(len(pairs), dtype=bool)
    if barriers is None or len(barriers) == 0 or len(pairs) == 0:
        return mask
    segs = shapely.linestrings(np.stack([points[pairs[:, 0]], points[pairs[:, 1]]], axis=1))
    tree = shapely.STRtree(barriers)
    hit = tree.query(segs, predicate="intersects")
    mask[np.unique(hit[0])] = True
    return mask


def build_graph(
    points: np.ndarray, region, barriers=None, barrier_weight: float = 0.02
) -> AtomGraph:
    """Cells and adjacency of distinct atom ``points`` inside ``region``.

    Parameters
    ----------
    points : ndarray (n, 2)
        Distinct metric coordinates.
    region : shapely (Multi)Polygon
        What the cells tile.
    barriers : array of shapely lines, optional
        Arterial roads and rivers (metric); edges crossing them are down-weighted.
    barrier_weight : float
        Share of the weight a crossing edge keeps.

    Returns
    -------
    AtomGraph
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    n = len(points)
    cells, leftover, block_of = block_cells(points, region, barriers)
    pairs = candidate_pairs(points)
    if len(pairs):
        shared = shared_lengths(cells, pairs, block_of[pairs[:, 0]] == block_of[pairs[:, 1]])
        keep = shared > MIN_SHARED_M
        pairs, shared = pairs[keep], shared[keep]
    else:
        shared = np.empty(0)
    crosses = crossing_mask(points, pairs, barriers)
    weight = np.where(crosses, shared * barrier_weight, shared)
    pairs, weight, crosses = _attach_orphans(points, cells, pairs, weight, crosses)
    pairs, weight, crosses = _bridge_components(points, pairs, weight, crosses)
    weight = np.maximum(1, np.rint(weight)).astype(np.int64)
    adj = _symmetric(n, pairs, weight)
    cross = _symmetric(n, pairs, crosses.astype(np.int64))
    return AtomGraph(points=points, cells=cells, leftover=leftover, adjacency=adj, crossing=cross)


def _attach_orphans(points, cells, pairs, weight, crosses):
    """Atoms without a cell or neighbour get one weak edge to the nearest atom that has one."""
    n = len(points)
    has_edge = np.zeros(n, dtype=bool)
    has_edge[pairs.ravel()] = True
    alive = ~shapely.is_empty(cells) & has_edge if n > 1 else np.zeros(n, dtype=bool)
    orphans = np.flatnonzero(~alive)
    if n < 2 or len(orphans) == 0:
        return pairs, weight, crosses
    anchors = np.flatnonzero(alive)
    if len(anchors) == 0:  # nothing to attach to: chain the atoms by x
        order = np.lexsort((points[:, 1], points[:, 0]))
        extra = np.column_stack([order[:-1], order[1:]])
    else:
        d = ((points[orphans, None, :] - points[None, anchors, :]) ** 2).sum(axis=2)
        extra = np.column_stack([orphans, anchors[d.argmin(axis=1)]])
    extra.sort(axis=1)
    pairs = np.concatenate([pairs, extra])
    weight = np.concatenate([weight, np.ones(len(extra))])
    crosses = np.concatenate([crosses, np.zeros(len(extra), dtype=bool)])
    return pairs, weight, crosses


def _bridge_components(points, pairs, weight, crosses):
    """Bridge the pieces of a disconnected graph.

    Pieces separated by an empty block (a river, a park between roads) get one
    weak barrier edge between their closest atoms.
    """
    n = len(points)
    if n < 2:
        return pairs, weight, crosses
    g = sparse.coo_array((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    ncomp, comp = connected_components(g, directed=False)
    extra = []
    while ncomp > 1:
        sizes = np.bincount(comp)
        small = int(np.argmin(sizes))
        mine, rest = np.flatnonzero(comp == small), np.flatnonzero(comp != small)
        d, j = cKDTree(points[rest]).query(points[mine])
        i = int(np.argmin(d))
        a, b = int(mine[i]), int(rest[j[i]])
        extra.append(sorted((a, b)))
        comp[comp == small] = comp[b]
        _, comp = np.unique(comp, return_inverse=True)
        ncomp -= 1
    if not extra:
        return pairs, weight, crosses
    extra = np.asarray(extra, dtype=pairs.dtype)
    return (
        np.concatenate([pairs, extra]),
        np.concatenate([weight, np.ones(len(extra))]),
        np.concatenate([crosses, np.ones(len(extra), dtype=bool)]),
    )


def _symmetric(n: int, pairs: np.ndarray, values: np.ndarray) -> sparse.csr_array:
    i = np.concatenate([pairs[:, 0], pairs[:, 1]]) if len(pairs) else np.empty(0, dtype=np.int64)
    j = np.concatenate([pairs[:, 1], pairs[:, 0]]) if len(pairs) else np.empty(0, dtype=np.int64)
    v = np.concatenate([values, values]) if len(pairs) else np.empty(0, dtype=np.int64)
    m = sparse.coo_array((v, (i, j)), shape=(n, n)).tocsr()
    m.sum_duplicates()
    m.eliminate_zeros()
    return m


def dedupe_points(points: np.ndarray, precision_m: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Distinct points (snapped to ``precision_m``) and, per input point, its atom index.

    Buildings at the same point form one atom; atoms keep first-seen order.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(points) == 0:
        return points, np.empty(0, dtype=np.int64)
    key = np.rint(points / precision_m).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return points[first[order]], rank[inverse]

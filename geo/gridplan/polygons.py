"""Grid polygons: the cells of each grid's atoms dissolved, orphan pieces given away.

Because the cells tile the region, the dissolved polygons tile it too. A cell
cut by a concave boundary can fall apart; a piece of a grid that holds none of
its buildings goes to the neighbouring grid it shares the longest border with,
so grids stay in one piece where the region allows.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon


def as_multipolygon(geom) -> MultiPolygon:
    """Polygonal part of ``geom`` as a MultiPolygon (empty when there is none)."""
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    polys = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon | MultiPolygon)]
    parts = []
    for p in polys:
        parts.extend(shapely.get_parts(p))
    return MultiPolygon(parts)


def dissolve(cells: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Union of the cells of each label, as MultiPolygons (index = label)."""
    out = np.empty(n_labels, dtype=object)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_labels + 1))
    for lab in range(n_labels):
        members = cells[order[bounds[lab] : bounds[lab + 1]]]
        out[lab] = as_multipolygon(_union_of_cells(members)) if len(members) else MultiPolygon()
    return out


def _union_of_cells(cells: np.ndarray):
    """Union of non-overlapping cells.

    The coverage union (edges matched, no overlay) is several times faster than a
    general union; it is kept only when it is valid and keeps the cells' area, else
    the general union is used (cells whose shared edges do not match exactly, or
    cells that are not all polygons).
    """
    try:
        fast = shapely.coverage_union_all(cells)
    except shapely.errors.GEOSException:  # e.g. a cell clipped down to a line
        return shapely.union_all(cells)
    total = float(shapely.area(cells).sum())
    if shapely.is_valid(fast) and abs(shapely.area(fast) - total) <= 1e-9 * max(total, 1.0):
        return fast
    return shapely.union_all(cells)


def give_away_orphans(polys: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Move pieces of a grid that contain none of its atom points to a neighbour.

    Parameters
    ----------
    polys : ndarray of MultiPolygon
        Grid polygons, index = label.
    points : ndarray (n, 2)
        Atom points.
    labels : ndarray (n,)
        Label of each atom.
    """
    polys = polys.copy()
    pts = shapely.points(points)
    for lab in range(len(polys)):
        parts = np.asarray(shapely.get_parts(polys[lab]), dtype=object)
        if len(parts) < 2:
            continue
        mine = pts[labels == lab]
        holds = np.array([shapely.intersects(p, mine).any() for p in parts])
        if not holds.any():
            holds[np.argmax(shapely.area(parts))] = True
        kept = list(parts[holds])
        for piece in parts[~holds]:
            target = _longest_border(piece, polys, lab)
            if target is None:
                kept.append(piece)
            else:
                polys[target] = as_multipolygon(shapely.union(polys[target], piece))
        polys[lab] = MultiPolygon(kept)
    return polys


def share_leftover(
    polys: np.ndarray, pieces: np.ndarray, points: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Share blocks without buildings among the nearest grids.

    Blocks such as a river or a park between roads are split among the grids of
    the nearest buildings (plain Voronoi over all atoms), so no single grid takes all of it.
    """
    from geo.gridplan.tessellation import voronoi_cells

    if len(pieces) == 0 or len(points) == 0:
        return polys
    polys = polys.copy()
    blocks = shapely.union_all(pieces)
    near = _atoms_near(points, np.asarray(pieces, dtype=object))
    cells = voronoi_cells(points[near], blocks)
    for lab, part in enumerate(dissolve(cells, labels[near], len(polys))):
        if not part.is_empty:
            polys[lab] = as_multipolygon(shapely.union(polys[lab], part))
    return polys


def _atoms_near(points: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Atoms that can be the nearest atom of some point of ``blocks`` (sorted indices).

    Every point of a block lies within ``d + D`` of the atom nearest to the
    block (``d`` its distance to it, ``D`` the diagonal of its bounding box),
    so its own nearest atom does too: the atoms farther than that from every
    block own none of them, and the Voronoi cells of the rest cut the blocks
    exactly as the cells of all atoms would.
    """
    pts = shapely.points(points)
    tree = shapely.STRtree(pts)
    (block, _), d = tree.query_nearest(blocks, return_distance=True, all_matches=False)
    x0, y0, x1, y1 = shapely.bounds(blocks).T
    reach = np.full(len(blocks), np.inf)
    np.minimum.at(reach, block, d)
    reach += np.hypot(x1 - x0, y1 - y0)
    _, near = tree.query(blocks, predicate="dwithin", distance=reach)
    return np.unique(near)


def _longest_border(piece, polys, own) -> int | None:
    shared = shapely.length(shapely.intersection(shapely.boundary(polys), piece.boundary))
    if own >= 0:
        shared[own] = 0
    best = int(np.argmax(shared)) if len(shared) else -1
    return best if best >= 0 and shared[best] > 0.01 else None


def retile(region, points: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Grid polygons over ``region`` for buildings at ``points`` with given ``labels``.

    Used after edits: the touched grids' union is tiled again from their
    buildings, so the result still has no gaps or overlaps.
    """
    from geo.gridplan.tessellation import dedupe_points, voronoi_cells

    atoms, atom_of = dedupe_points(points)
    atom_label = np.full(len(atoms), -1, dtype=np.int64)
    atom_label[atom_of[::-1]] = np.asarray(labels)[::-1]
    cells = voronoi_cells(atoms, region)
    polys = dissolve(cells, atom_label, n_labels)
    return give_away_orphans(polys, atoms, atom_label)

"""Building shadows: the ground a footprint hides from a camera (metric CRS).

For a camera ``c`` and a footprint ``F``, the shadow is every point ``p`` such
that the segment ``c→p`` meets ``F`` — the footprint plus the region behind it.
It is built exactly, not as a buffer:

* **Convex footprints** (most buildings): the convex hull of the footprint's
  vertices and of their projections from ``c`` out to a far distance ``D``
  (plus one point on the bisector of the silhouette, so the far side never
  cuts inside the range even when the building fills a wide angle).
* **Other footprints**: the footprint plus, for every edge that faces the
  camera, the polygon swept from that edge out to ``D`` along the rays from
  ``c`` (edge, its far projection, and the far bisector point). A ray that
  enters the footprint crosses a facing edge, so the union is exact.

``D = 1.5 · max(range, farthest vertex)``: the far chain then stays beyond the
range (each far chord subtends at most 90°, and ``D·cos 45° > range``).

A footprint that contains the camera (or lies within ``mount_tolerance`` of it,
0 by default) is the building the camera is mounted on — positions snapped
into the footprint are common: it hides no ground beyond itself, but its
footprint is still not public ground. A camera just outside a wall is not
inside it: the wall hides what is behind it, as it should.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

FAR_FACTOR = 1.5


@dataclass
class Footprints:
    """Building footprints prepared for shadow casting (edges, convexity)."""

    geoms: np.ndarray
    convex: np.ndarray
    edge_a: np.ndarray
    edge_b: np.ndarray
    edge_owner: np.ndarray
    edge_offsets: np.ndarray
    vert_xy: np.ndarray
    vert_offsets: np.ndarray

    @classmethod
    def from_geometries(cls, geoms) -> Footprints:
        """Prepare polygonal footprints (points and empties are kept but cast nothing)."""
        geoms = np.asarray(geoms, dtype=object)
        n = len(geoms)
        polygonal = shapely.get_type_id(geoms) >= 0
        polygonal &= np.isin(shapely.get_type_id(geoms), (3, 6))
        oriented = shapely.orient_polygons(np.where(polygonal, geoms, None))
        oriented = np.where(polygonal, oriented, None)
        parts, part_owner = shapely.get_parts(oriented, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        same = coord_ring[:-1] == coord_ring[1:]
        edge_a, edge_b = coords[:-1][same], coords[1:][same]
        edge_owner = part_owner[ring_part[coord_ring[:-1][same]]]
        order = np.argsort(edge_owner, kind="stable")
        edge_a, edge_b, edge_owner = edge_a[order], edge_b[order], edge_owner[order]
        hulls = shapely.convex_hull(oriented)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = shapely.area(oriented) / shapely.area(hulls)
        n_parts = np.bincount(part_owner, minlength=n)
        n_rings = np.bincount(part_owner[ring_part], minlength=n)
        convex = polygonal & (ratio > 1 - 1e-9) & (n_parts == 1) & (n_rings == 1)
        hull_xy, hull_owner = shapely.get_coordinates(
            np.where(polygonal, hulls, None), return_index=True
        )
        return cls(
            geoms=geoms,
            convex=convex,
            edge_a=edge_a,
            edge_b=edge_b,
            edge_owner=edge_owner,
            edge_offsets=np.searchsorted(edge_owner, np.arange(n + 1)),
            vert_xy=hull_xy,
            vert_offsets=np.searchsorted(hull_owner, np.arange(n + 1)),
        )


def _expand(offsets: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pair index, the item indices of its owner's slice: (pair index, item index)."""
    start, stop = offsets[owners], offsets[owners + 1]
    counts = stop - start
    pair = np.repeat(np.arange(len(owners)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return pair, np.repeat(start, counts) + (np.arange(counts.sum()) - first)


def _project(cxy: np.ndarray, vxy: np.ndarray, dist: np.ndarray) -> np.ndarray:
    d = vxy - cxy
    norm = np.hypot(d[:, 0], d[:, 1])
    norm = np.where(norm > 0, norm, 1.0)
    return cxy + d * (dist / norm)[:, None]


def _bisector(cxy, a, b, dist) -> np.ndarray:
    ua, ub = a - cxy, b - cxy
    ua = ua / np.maximum(np.hypot(ua[:, 0], ua[:, 1]), 1e-12)[:, None]
    ub = ub / np.maximum(np.hypot(ub[:, 0], ub[:, 1]), 1e-12)[:, None]
    mid = ua + ub
    return cxy + mid / np.maximum(np.hypot(mid[:, 0], mid[:, 1]), 1e-12)[:, None] * dist[:, None]


def _convex_shadows(fp: Footprints, cxy, radius, bld) -> np.ndarray:
    """Shadows of convex footprints: one hull per (camera, building) pair."""
    pair, vix = _expand(fp.vert_offsets, bld)
    v = fp.vert_xy[vix]
    c = cxy[pair]
    dist = np.hypot(*(v - c).T)
    farthest = np.maximum.reduceat(dist, _starts(pair)) if len(pair) else 0
    far = FAR_FACTOR * np.maximum(radius, farthest)
    far_v = far[pair]
    proj = _project(c, v, far_v)
    # Bisector of the silhouette: the extreme bearings of the vertices seen from c.
    ang = np.arctan2(v[:, 0] - c[:, 0], v[:, 1] - c[:, 1])
    ref = ang[_starts(pair)][pair]
    rel = (ang - ref + np.pi) % (2 * np.pi) - np.pi
    starts = _starts(pair)
    lo, hi = np.minimum.reduceat(rel, starts), np.maximum.reduceat(rel, starts)
    mid_bearing = ref[starts] + (lo + hi) / 2
    mid = cxy + far[:, None] * np.stack([np.sin(mid_bearing), np.cos(mid_bearing)], axis=-1)
    pts = np.concatenate([v, proj, mid])
    owner = np.concatenate([pair, pair, np.arange(len(bld))])
    order = np.argsort(owner, kind="stable")
    clouds = shapely.multipoints(pts[order], indices=owner[order])
    return shapely.convex_hull(clouds)


def _starts(pair: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]]) if len(pair) else pair


def _edge_shadows(fp: Footprints, cxy, radius, bld) -> tuple[np.ndarray, np.ndarray]:
    """Swept polygons of camera-facing edges; returns (polygons, pair index)."""
    pair, eix = _expand(fp.edge_offsets, bld)
    a, b, c = fp.edge_a[eix], fp.edge_b[eix], cxy[pair]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    facing = cross < -1e-9
    a, b, c, pair = a[facing], b[facing], c[facing], pair[facing]
    far = FAR_FACTOR * np.maximum.reduce([radius[pair], np.hypot(*(a - c).T), np.hypot(*(b - c).T)])
    ring = np.stack([a, b, _project(c, b, far), _bisector(c, a, b, far), _project(c, a, far), a], 1)
    return shapely.polygons(ring), pair


def cast(fp: Footprints, cam_xy: np.ndarray, radius: np.ndarray, cam: np.ndarray,
         bld: np.ndarray, mount_tolerance: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Shadows for (camera, building) pairs.

    Parameters
    ----------
    fp : Footprints
        The prepared buildings.
    cam_xy, radius : ndarray
        Camera positions (n, 2) and outer radii (n,).
    cam, bld : ndarray
        Pair arrays: camera index and building index, same length.
    mount_tolerance : float
        A footprint this close to the camera (metres) is its mount.

    Returns
    -------
    polygons, camera index : ndarray
        One or more polygons per pair (footprints included), with the camera
        each belongs to. Mount buildings give their footprint only.
    """
    cam = np.asarray(cam, dtype=np.int64)
    bld = np.asarray(bld, dtype=np.int64)
    points = shapely.points(cam_xy[cam])
    mount = shapely.dwithin(fp.geoms[bld], points, mount_tolerance)
    # A shadow contains its footprint (every point inside lies behind a facing
    # edge), so only mounts need their footprint added on its own.
    polys, owners = [fp.geoms[bld[mount]]], [cam[mount]]
    cam, bld = cam[~mount], bld[~mount]
    convex = fp.convex[bld]
    if convex.any():
        ix = np.flatnonzero(convex)
        polys.append(_convex_shadows(fp, cam_xy[cam[ix]], radius[cam[ix]], bld[ix]))
        owners.append(cam[ix])
    other = ~convex
    if other.any():
        ix = np.flatnonzero(other)
        quads, pair = _edge_shadows(fp, cam_xy[cam[ix]], radius[cam[ix]], bld[ix])
        polys.append(quads)
        owners.append(cam[ix][pair])
    geoms, owner = np.concatenate(polys), np.concatenate(owners)
    keep = ~shapely.is_missing(geoms) & np.isin(shapely.get_type_id(geoms), (3, 6))
    return geoms[keep], owner[keep]

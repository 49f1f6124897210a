"""Dispatch: the k fastest on-duty posts to a point, with seconds, metres and the route."""

from __future__ import annotations

import numpy as np
import shapely
from shapely import ops
from shapely.geometry import LineString, Point, mapping

from geo.errors import InvalidInput, OutsideServiceArea
from geo.response.context import ReachContext


def _path_nodes(pred: np.ndarray, start: int, end: int) -> list[int]:
    nodes = [end]
    while nodes[-1] != start:
        prev = int(pred[nodes[-1]])
        if prev < 0:
            return []
        nodes.append(prev)
    return nodes[::-1]


def _arc_lookup(ctx: ReachContext) -> dict:
    """(from, to) → (edge index, forward?) of the fastest arc between two nodes."""
    g = ctx.graph
    cache = getattr(g, "_arc_lookup", None)
    if cache is None:
        u, v, w, e = g.arcs()
        fwd = np.r_[np.ones((g.cost >= 0).sum(), bool), np.zeros((g.reverse_cost >= 0).sum(), bool)]
        order = np.argsort(-w)  # fastest written last wins
        cache = {(int(u[i]), int(v[i])): (int(e[i]), bool(fwd[i])) for i in order}
        g._arc_lookup = cache
    return cache


def _route(ctx: ReachContext, p: int, target: Point, edge: int, frac: float, via_a: bool):
    """The route of post ``p`` to ``target`` as one metric LineString."""
    g = ctx.graph
    pred = ctx.predecessors()[p]
    entry = int(g.src[edge] if via_a else g.tgt[edge])
    nodes = _path_nodes(pred, int(g.post_node[p]), entry)
    arcs = _arc_lookup(ctx)
    coords = [ctx.posts["geometry"].iat[p].coords[0]]
    for a, b in zip(nodes[:-1], nodes[1:], strict=False):
        e, forward = arcs[(a, b)]
        line = g.geoms[e] if forward else shapely.reverse(g.geoms[e])
        coords.extend(line.coords)
    line = g.geoms[edge]
    piece = (ops.substring(line, 0, frac, normalized=True) if via_a
             else shapely.reverse(ops.substring(line, frac, 1, normalized=True)))
    coords.extend(piece.coords if piece.geom_type == "LineString" else [piece.coords[0]])
    coords.append(target.coords[0])
    clean = [coords[0]] + [c for i, c in enumerate(coords[1:], 1) if c != coords[i - 1]]
    if len(clean) < 2:
        clean = clean * 2
    return LineString(clean)


def nearest_posts(ctx: ReachContext, lon: float, lat: float, k: int = 3) -> dict:
    """The ``k`` fastest posts to (lon, lat), fastest first, as route LineStrings.

    Raises
    ------
    OutsideServiceArea
        The point is farther than ``ONEMAP_RESPONSE_MAX_SNAP_M`` from every road.
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("lon must be in [-180, 180] and lat in [-90, 90]")
    if not 1 <= k <= 100:
        raise InvalidInput("k must be between 1 and 100")
    x, y = ctx.projector.xy_to_metric([lon], [lat])
    target = Point(float(x[0]), float(y[0]))
    snap = ctx.graph.snap(np.array([target], dtype=object))
    if snap.dist[0] > ctx.settings.max_snap_m:
        raise OutsideServiceArea(
            f"({lon}, {lat}) is {snap.dist[0]:.0f} m from the nearest road, outside the service "
            f"area (limit {ctx.settings.max_snap_m:g} m)")
    via_a, via_b = ctx.graph.entry_seconds(ctx.unlimited()[0], snap)
    secs = np.minimum(via_a, via_b)[:, 0] + snap.dist[0] / ctx.graph.conn_ms
    order = [int(i) for i in np.argsort(secs, kind="stable")[:k] if np.isfinite(secs[i])]
    feats = []
    for rank, p in enumerate(order, 1):
        use_a = bool(via_a[p, 0] <= via_b[p, 0])
        route = _route(ctx, p, target, int(snap.edge[0]), float(snap.frac[0]), use_a)
        row = ctx.posts.iloc[p]
        feats.append({"type": "Feature",
                      "geometry": mapping(ctx.projector.to_lonlat(np.array([route]))[0]),
                      "properties": {"rank": rank, "post": row["name"], "code": row["code"],
                                     "kind": row["kind"], "seconds": round(float(secs[p]), 1),
                                     "metres": round(float(route.length), 1),
                                     "turnout_s": float(row["turnout_s"])}})
    return {"type": "FeatureCollection", "features": feats,
            "parameters": {"lon": lon, "lat": lat, "k": k, "mode": ctx.mode,
                           "posts": len(ctx.posts)}}

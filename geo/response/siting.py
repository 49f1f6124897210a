"""Where k new posts help most: maximal covering on the road network, existing posts fixed.

Candidates are road crossings (nodes of degree ≥ 3, thinned to at most
``max_candidates`` evenly along the node order). A candidate covers a demand point
when a new post there (no turnout, on the road) reaches it within the break; the
points the existing posts already reach are left out. The camera-siting solvers
pick the posts: lazy greedy, or the exact MCLP when the problem is small.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point, mapping

from geo.coverage.siting import ExactMCLP, LazyGreedy, SitingMethod, curve_of
from geo.errors import InvalidInput
from geo.response.context import ReachContext

WEIGHTS = ("households", "incidents", "key_places")


def _demand(ctx: ReachContext, weight: str):
    if weight == "households":
        return ctx.buildings, ctx.building_s, ctx.buildings.frame["households"].to_numpy(float)
    if weight == "incidents":
        return ctx.incidents, ctx.incident_s, np.ones(len(ctx.incidents.frame))
    return ctx.key_places, ctx.key_place_s, np.ones(len(ctx.key_places.frame))


def candidate_nodes(ctx: ReachContext, max_candidates: int) -> np.ndarray:
    """Road crossings (degree ≥ 3), at most ``max_candidates``, posts' own nodes excluded."""
    g = ctx.graph
    deg = np.bincount(np.r_[g.src, g.tgt], minlength=g.n_nodes)
    nodes = np.flatnonzero(deg >= 3)
    nodes = np.setdiff1d(nodes, g.post_node)
    if len(nodes) > max_candidates:
        nodes = nodes[np.linspace(0, len(nodes) - 1, max_candidates).round().astype(int)]
    return nodes


def site_posts(ctx: ReachContext, k: int, minutes: float, weight: str = "households",
               method: str = "auto", max_candidates: int = 1500) -> dict:
    """Propose ``k`` new posts maximising the ``weight`` reached within ``minutes``."""
    if weight not in WEIGHTS:
        raise InvalidInput(f"unknown weight {weight!r}; use one of {', '.join(WEIGHTS)}")
    if not 1 <= k <= 200:
        raise InvalidInput("k must be between 1 and 200")
    if method not in tuple(SitingMethod):
        raise InvalidInput("method must be auto, greedy or exact")
    t = minutes * 60.0
    places, secs, w = _demand(ctx, weight)
    covered = (secs.min(axis=0) <= t) if len(ctx.posts) else np.zeros(len(w), bool)
    todo = np.flatnonzero(~covered & (w > 0))
    snap = places.snap
    nodes = candidate_nodes(ctx, max_candidates)
    g = ctx.graph
    rows, cols = [], []
    sub = type(snap)(snap.edge[todo], snap.frac[todo], snap.dist[todo], snap.point[todo])
    for lo in range(0, len(nodes), 200):
        chunk = nodes[lo:lo + 200]
        d = dijkstra(g._csr, directed=True, indices=chunk, limit=t)
        reach = g.seconds_to(d, sub) <= t
        r, c = np.nonzero(reach)
        rows.append(r + lo)
        cols.append(c)
    A = sparse.csr_matrix((np.ones(sum(len(r) for r in rows), bool),
                           (np.concatenate(rows) if rows else [],
                            np.concatenate(cols) if cols else [])),
                          shape=(len(nodes), len(todo)))
    wt = w[todo]
    exact = method == SitingMethod.EXACT or (
        method == SitingMethod.AUTO and A.nnz <= 200_000 and len(nodes) <= 400)
    solver = (ExactMCLP(k) if exact else LazyGreedy(k)).fit(A, wt)
    order = solver.chosen_
    curve = curve_of(A, wt, order)
    base = float(w[covered].sum())
    total = float(w.sum())
    xy = [g.geoms[np.flatnonzero(g.src == n)[0]].coords[0] if (g.src == n).any()
          else g.geoms[np.flatnonzero(g.tgt == n)[0]].coords[-1] for n in nodes[order]]
    pts = ctx.projector.to_lonlat(np.array([Point(c) for c in xy], dtype=object)) if xy else []
    def share(v: float):
        return round(v / total, 4) if total else None

    gains = np.diff(np.r_[0.0, curve])
    feats = [{"type": "Feature", "geometry": mapping(p),
              "properties": {"rank": i + 1, "gain": round(float(gains[i]), 3),
                             "reached": round(base + float(curve[i]), 3),
                             "share": share(base + float(curve[i]))}}
             for i, p in enumerate(pts)]
    return {"type": "FeatureCollection", "features": feats,
            "parameters": {"k": k, "minutes": minutes, "weight": weight, "mode": ctx.mode,
                           "method": (SitingMethod.EXACT if exact else SitingMethod.GREEDY).value,
                           "candidates": int(len(nodes))},
            "curve": [{"posts": 0, "reached": round(base, 3),
                       "share": round(base / total, 4) if total else None}]
            + [{"posts": i + 1, "reached": round(base + float(c), 3),
                "share": round((base + float(c)) / total, 4) if total else None}
               for i, c in enumerate(curve)],
            "total": total}

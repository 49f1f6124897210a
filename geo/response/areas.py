"""Response areas: the street pieces reached within a break, widened by the road side.

A node reached ``d`` seconds after the alert leaves ``T − d`` seconds to go on:
an edge leaving it is covered up to that fraction of its time (partial edges
count), from either end where the edge may be travelled. The pieces are widened
by ``ONEMAP_RESPONSE_ROADSIDE_M`` — not a concave hull of nodes.

``overlap``: ``dissolve`` (one area per break), ``split`` (each street piece and
each place to its fastest post) or ``overlap`` (one area per post and break).
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely import ops
from shapely.geometry import mapping

from geo.errors import InvalidInput
from geo.response.context import ReachContext, ResponseCache
from geo.response.graph import ModeGraph

OVERLAPS = ("dissolve", "split", "overlap")


def check_overlap(overlap: str) -> str:
    """The overlap rule, or a clear error."""
    if overlap not in OVERLAPS:
        raise InvalidInput(f"unknown overlap {overlap!r}; use one of {', '.join(OVERLAPS)}")
    return overlap


def _reach_fractions(graph: ModeGraph, d: np.ndarray, seconds: float):
    """Fraction of each edge covered from its start (ra) and from its end (rb)."""
    f, b = graph.cost, graph.reverse_cost
    da, db = d[graph.src], d[graph.tgt]
    with np.errstate(invalid="ignore", divide="ignore"):
        ra = np.where((f >= 0) & (da <= seconds),
                      np.clip((seconds - da) / np.maximum(f, 1e-9), 0, 1), 0.0)
        rb = np.where((b >= 0) & (db <= seconds),
                      np.clip((seconds - db) / np.maximum(b, 1e-9), 0, 1), 0.0)
    return ra, rb


def _pieces(graph: ModeGraph, edge: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list:
    """Sub-lines [lo, hi] (fractions) of the given edges; whole edges are not cut."""
    out = []
    keep = hi - lo > 1e-9
    edge, lo, hi = edge[keep], lo[keep], hi[keep]
    whole = (lo <= 1e-9) & (hi >= 1 - 1e-9)
    out.extend(graph.geoms[edge[whole]])
    for e, a, z in zip(edge[~whole], lo[~whole], hi[~whole], strict=True):
        out.append(ops.substring(graph.geoms[e], a, z, normalized=True))
    return out


def reached_lines(graph: ModeGraph, d: np.ndarray, seconds: float) -> list:
    """The street pieces (metric LineStrings) reached within ``seconds`` given node seconds."""
    ra, rb = _reach_fractions(graph, d, seconds)
    e = np.arange(len(graph.src))
    full = ra + rb >= 1 - 1e-12
    lines = _pieces(graph, e[full], np.zeros(full.sum()), np.ones(full.sum()))
    part = ~full
    lines += _pieces(graph, e[part & (ra > 0)], np.zeros((part & (ra > 0)).sum()),
                     ra[part & (ra > 0)])
    lines += _pieces(graph, e[part & (rb > 0)], 1 - rb[part & (rb > 0)],
                     np.ones((part & (rb > 0)).sum()))
    return lines


def split_lines(graph: ModeGraph, node_s: np.ndarray, seconds: float) -> dict[int, list]:
    """Reached street pieces per fastest post (row of ``node_s``)."""
    f, b = graph.cost, graph.reverse_cost
    pa = np.argmin(node_s[:, graph.src], axis=0)
    pb = np.argmin(node_s[:, graph.tgt], axis=0)
    d = node_s.min(axis=0)
    da, db = d[graph.src], d[graph.tgt]
    ra, rb = _reach_fractions(graph, d, seconds)
    with np.errstate(invalid="ignore", divide="ignore"):
        meet = np.clip((db + np.maximum(b, 0) - da) / (np.maximum(f, 0) + np.maximum(b, 0)), 0, 1)
    meet = np.where(f < 0, 0.0, np.where(b < 0, 1.0, np.nan_to_num(meet, nan=0.5)))
    meet = np.where(~np.isfinite(da), 0.0, np.where(~np.isfinite(db), 1.0, meet))
    a_hi = np.minimum(ra, meet)
    b_lo = np.maximum(1 - rb, meet)
    e = np.arange(len(graph.src))
    out: dict[int, list] = {}
    for p in range(node_s.shape[0]):
        ma = (pa == p) & (a_hi > 0)
        mb = (pb == p) & (rb > 0) & (b_lo < 1)
        out[p] = (_pieces(graph, e[ma], np.zeros(ma.sum()), a_hi[ma])
                  + _pieces(graph, e[mb], b_lo[mb], np.ones(mb.sum())))
    return out


def area_of(lines: list, roadside_m: float):
    """The street pieces widened by ``roadside_m`` (None when nothing is reached)."""
    if not lines:
        return None
    # Buffering each piece and taking one union is ~2-3x faster than buffering the
    # MultiLineString as a whole (GEOS nodes the whole offset curve then).
    pieces = shapely.buffer(np.asarray(lines, dtype=object), max(roadside_m, 0.01), quad_segs=2)
    geom = shapely.union_all(pieces)
    return None if geom.is_empty else geom


def response_areas(ctx: ReachContext, minutes, overlap: str = "dissolve") -> dict:
    """The response areas as a GeoJSON FeatureCollection (lon/lat).

    Each feature: ``post`` (code; null when dissolved), ``minutes``, ``households``,
    ``population`` (buildings reached within the break; with ``split`` those whose
    fastest post it is) and ``area_m2``.
    """
    check_overlap(overlap)
    road = ctx.settings.roadside_m
    codes = ctx.posts["code"].to_numpy()
    names = ctx.posts["name"].to_numpy()
    hh = ctx.buildings.frame["households"].to_numpy(dtype=np.int64)
    pop = ctx.buildings.frame["population"].to_numpy(dtype=np.int64)
    best = ctx.building_s.min(axis=0) if len(ctx.posts) else np.full(len(hh), np.inf)
    owner = ctx.building_s.argmin(axis=0) if len(ctx.posts) else np.zeros(0, dtype=int)
    geoms, props = [], []

    def add(lines, post, m, reached):
        geoms.append(area_of(lines, road))
        props.append({"post": None if post is None else codes[post],
                      "name": None if post is None else names[post], "minutes": m,
                      "households": int(hh[reached].sum()),
                      "population": int(pop[reached].sum())})

    for m in minutes:
        t = m * 60.0
        if overlap == "dissolve":
            add(reached_lines(ctx.graph, ctx.node_s.min(axis=0), t), None, m, best <= t)
        elif overlap == "split":
            for p, lines in split_lines(ctx.graph, ctx.node_s, t).items():
                add(lines, p, m, (best <= t) & (owner == p))
        else:
            for p in range(len(ctx.posts)):
                add(reached_lines(ctx.graph, ctx.node_s[p], t), p, m, ctx.building_s[p] <= t)
    drawn = [i for i, g in enumerate(geoms) if g is not None]
    lonlat = ctx.projector.to_lonlat(np.array([geoms[i] for i in drawn], dtype=object))
    shapes = dict(zip(drawn, lonlat, strict=True))
    feats = [{"type": "Feature", "geometry": mapping(shapes[i]) if i in shapes else None,
              "properties": {**pr, "area_m2": round(0.0 if g is None else float(g.area), 1)}}
             for i, (g, pr) in enumerate(zip(geoms, props, strict=True))]
    return {"type": "FeatureCollection", "features": feats,
            "parameters": {"minutes": list(minutes), "mode": ctx.mode, "overlap": overlap,
                           "posts": len(ctx.posts), "roadside_m": road,
                           "connector_kmh": ctx.settings.connector_kmh}}


def cached_areas(ctx: ReachContext, minutes, overlap: str = "dissolve",
                 answers: ResponseCache | None = None) -> dict:
    """:func:`response_areas`, kept in ``answers`` for the context's versions and posts.

    The context's ``key`` holds every layer version, the hour of the incident window
    and the post filter it was computed from, so a kept answer is the one a new
    computation would give.
    """
    if answers is None or not ctx.key:
        return response_areas(ctx, minutes, overlap)
    minutes = tuple(float(m) for m in minutes)
    return answers.get(("areas", ctx.key, minutes, check_overlap(overlap)),
                       lambda: response_areas(ctx, minutes, overlap))

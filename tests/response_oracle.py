"""An independent response-time oracle (networkx), written apart from ``geo.response``.

It links road ends that stop up to ``gap_m`` short of another road to it, nodes each
road at its crossings with the others (``intersection`` + cut, not a union), inserts every
post and building as a node of its street, and runs networkx's Dijkstra from a
super-source whose arcs carry each post's turnout and connector.
"""

from __future__ import annotations

from collections import defaultdict

import networkx as nx
import numpy as np
import shapely
from sqlalchemy import text

SPEED = {"arterial": 40.0, "secondary": 30.0, "local": 20.0}


def _cut(line, stops):
    """Pieces of ``line`` between the given distances along it."""
    from shapely.ops import substring
    marks = sorted({0.0, line.length, *[s for s in stops if 0 < s < line.length]})
    return [substring(line, a, b) for a, b in zip(marks[:-1], marks[1:], strict=False)
            if b - a > 1e-6]


def oracle_households(engine, mode: str, breaks_min, gap_m: float = 0.0) -> dict:
    """Households reached within each break, by an independent networkx model."""
    with engine.connect() as conn:
        roads = conn.execute(text(
            "SELECT class, oneway, speed_kmh, ST_AsBinary(ST_Transform(geom, 32650)) "
            "FROM roads")).all()
        posts = conn.execute(text(
            "SELECT turnout_s, ST_AsBinary(ST_Transform(geom, 32650)) FROM posts "
            "WHERE status = 'on_duty' AND mode = :m"), {"m": mode}).all()
        blds = conn.execute(text(
            "SELECT households, ST_AsBinary(ST_Transform(ST_PointOnSurface(geom), 32650)) "
            "FROM buildings")).all()
    lines, attrs = [], []
    for cls, way, kmh, wkb in roads:
        for part in shapely.get_parts(shapely.from_wkb(wkb)):
            lines.append(part)
            attrs.append((cls, way, kmh))
    tree = shapely.STRtree(lines)
    # 0. a road end that stops short of another road by at most gap_m is linked to the
    #    point of that road nearest to it (the product draws the road on to meet it)
    extra_stops, links = defaultdict(list), []
    for i, line in enumerate(lines):
        for first in (True, False):
            end = shapely.Point(line.coords[0 if first else -1])
            near = [(end.distance(lines[j]), int(j)) for j in tree.query(end.buffer(gap_m))
                    if j != i]
            if gap_m <= 0 or not near or not 1e-3 < min(near)[0] <= gap_m:  # joined or dead
                continue
            j = min(near)[1]
            at = lines[j].project(end)
            extra_stops[j].append(at)
            foot = lines[j].interpolate(at)
            link = shapely.LineString([foot, end] if first else [end, foot])  # as drawn
            links.append((link, attrs[i]))
    # 1. node each road where other roads cross or touch it
    pieces = list(links)
    for i, line in enumerate(lines):
        stops = list(extra_stops[i])
        for j in tree.query(line):
            if j == i:
                continue
            for p in shapely.get_parts(line.intersection(lines[j])):
                pts = [p] if p.geom_type == "Point" else [shapely.Point(c) for c in p.coords]
                stops += [line.project(q) for q in pts]
        for piece in _cut(line, stops):
            pieces.append((piece, attrs[i]))
    geoms = np.array([p for p, _ in pieces], dtype=object)
    # 2. stops on pieces: posts and buildings at their nearest piece
    ptree = shapely.STRtree(geoms)
    post_pts = shapely.from_wkb([r[1] for r in posts])
    b_pts = shapely.from_wkb([r[1] for r in blds])
    on = defaultdict(list)
    for kind, pts in (("post", post_pts), ("bld", b_pts)):
        idx = ptree.query_nearest(pts, all_matches=False)[1]
        for n, (pt, e) in enumerate(zip(pts, idx, strict=True)):
            on[int(e)].append((geoms[e].project(pt), (kind, n), pt.distance(geoms[e])))
    g = nx.DiGraph()

    def key(pt):
        return (round(pt[0], 1), round(pt[1], 1))

    def arc(a, b, w):
        if not g.has_edge(a, b) or g[a][b]["w"] > w:
            g.add_edge(a, b, w=w)

    conn_ms = 5 / 3.6
    for e, (piece, (cls, way, kmh)) in enumerate(pieces):
        ms = (5.0 if mode == "walk" else (kmh or SPEED[cls])) / 3.6
        seq = [(0.0, key(piece.coords[0]))]
        for at, name, dist in sorted(on.get(e, []), key=lambda r: r[0]):
            seq.append((at, ("at", name)))
            g.add_edge(("at", name), name, w=dist / conn_ms) if name[0] == "bld" else None
            if name[0] == "post":
                g.add_edge("S", ("at", name), w=posts[name[1]][0] + dist / conn_ms)
        seq.append((piece.length, key(piece.coords[-1])))
        for (a0, n0), (a1, n1) in zip(seq[:-1], seq[1:], strict=False):
            w = (a1 - a0) / ms
            if mode == "walk" or way in ("no", "yes"):
                arc(n0, n1, w)
            if mode == "walk" or way in ("no", "reverse"):
                arc(n1, n0, w)
    dist = nx.single_source_dijkstra_path_length(g, "S", weight="w")
    hh = np.array([r[0] for r in blds], dtype=float)
    t = np.array([dist.get(("bld", n), np.inf) for n in range(len(blds))])
    return {m: float(hh[t <= m * 60].sum()) for m in breaks_min}

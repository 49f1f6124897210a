"""Response posts of the demo city, one-way lanes, and a planted response weakness.

Police stations (one per street), police posts and patrol points (most
communities), a fire station, 党群服务中心 on foot (``mode=walk``) and one off-duty
post. The weakness: an outer community (of the third farthest from the centre, the
one that costs the fewest posts) gets no post, and every driving post that would
reach one of its buildings within 5 minutes (plus a margin) is dropped — so no post
reaches it in time. Everything here draws from its
own random streams, after every other layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.demo.roads import RoadNet
from geo.response.graph import ModeGraph
from geo.response.network import build_edges
from geo.response.settings import ResponseSettings

WEAK_MINUTES = 5.0
MARGIN_S = 60.0


def one_way_lanes(net: RoadNet, rng: np.random.Generator, share: float = 0.2) -> list[str]:
    """``oneway`` per road: some local lanes entered from a junction are one-way."""
    lines = np.array(net.lines, dtype=object)
    out = ["no"] * len(lines)
    tree = shapely.STRtree(lines)
    for i, (line, cls) in enumerate(zip(lines, net.classes, strict=True)):
        if cls != "local":
            continue
        a, b = shapely.get_point(line, 0), shapely.get_point(line, -1)
        touch_a = [j for j in tree.query(a.buffer(1.0)) if j != i]
        touch_b = [j for j in tree.query(b.buffer(1.0)) if j != i]
        if touch_a and touch_b and rng.random() < share:
            out[i] = "yes"
    return out


def _on_road(lines: np.ndarray, pt, offset: float = 12.0):
    """A point ``offset`` m beside the road nearest to ``pt``."""
    j = int(shapely.STRtree(lines).query_nearest(pt)[0])
    on = lines[j].interpolate(lines[j].project(pt))
    d = np.array(pt.coords[0]) - np.array(on.coords[0])
    n = np.hypot(*d)
    step = d / n * offset if n > 1e-6 else np.array([offset, 0.0])
    return shapely.Point(on.x + step[0], on.y + step[1])


def make_posts(areas, net: RoadNet, oneway: list[str], bld: pd.DataFrame,
               rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """Posts (local metres) and the planted weakness ``{code, name, minutes, mode}``."""
    comms = [a for a in areas if a.level == "community"]
    streets = [a for a in areas if a.level == "street"]
    lines = np.array(net.lines, dtype=object)
    centre = shapely.union_all([a.geom for a in comms]).centroid
    rows = []
    for s in streets:
        rows.append({"name": s.name.removesuffix("街道") + "派出所", "kind": "police_station",
                     "mode": "drive", "turnout_s": 60.0, "pt": s.geom.centroid, "in": None})
    for j, a in enumerate(comms):
        stem = a.name.removesuffix("社区")
        r = rng.random()
        if r < 0.2:
            rows.append({"name": stem + "警务站", "kind": "police_post", "mode": "drive",
                         "turnout_s": 30.0, "pt": a.geom.representative_point(), "in": a.code})
        elif r < 0.4:
            rows.append({"name": stem + "巡逻点", "kind": "patrol", "mode": "drive",
                         "turnout_s": 0.0, "pt": a.geom.representative_point(), "in": a.code})
        if j % 6 == 1:
            rows.append({"name": stem + "党群服务中心", "kind": "service_centre", "mode": "walk",
                         "turnout_s": 0.0, "pt": a.geom.centroid, "in": a.code})
    rows.append({"name": "消防救援站", "kind": "fire", "mode": "drive", "turnout_s": 60.0,
                 "pt": centre, "in": None})
    df = pd.DataFrame(rows)
    df["geometry"] = [_on_road(lines, p) for p in df.pop("pt")]
    df["status"] = "on_duty"
    weak, reach = _weakest(df, comms, centre, net, oneway, bld)
    df = df[df.pop("in").to_numpy() != weak.code].reset_index(drop=True)
    off = max((a for a in comms if a is not weak), key=lambda a: a.geom.area)
    df.loc[len(df)] = {"name": off.name.removesuffix("社区") + "备勤巡逻点", "kind": "patrol",
                       "mode": "drive", "turnout_s": 0.0, "status": "off_duty",
                       "geometry": _on_road(lines, off.geom.representative_point())}
    df = _drop_reaching(df, weak, net, oneway, bld)
    df["code"] = [f"P{i + 1:03d}" for i in range(len(df))]
    truth = {"code": weak.code, "name": weak.name, "minutes": WEAK_MINUTES, "mode": "drive"}
    return df[["code", "name", "kind", "mode", "turnout_s", "status", "geometry"]], truth


def _weakest(df: pd.DataFrame, comms, centre, net: RoadNet, oneway, bld):
    """The outer community whose weakness costs the fewest driving posts.

    Among the third of communities farthest from the centre, the one the fewest
    driving posts (its own aside) reach within 5 minutes plus the margin; ties go to
    the farthest. Returns it and the number of driving posts that stay.
    """
    outer = sorted(comms, key=lambda a: -a.geom.centroid.distance(centre))
    outer = outer[: max(1, len(outer) // 3)]
    drive = df["mode"].to_numpy() == "drive"
    secs = _seconds_to_buildings(df[drive], net, oneway, bld)
    owner = df["in"].to_numpy()[drive]
    codes = bld["community_code"].to_numpy()
    best, kept = None, -1
    for a in outer:
        fast = secs[:, codes == a.code].min(axis=1) < WEAK_MINUTES * 60 + MARGIN_S
        n = int((~fast & (owner != a.code)).sum())
        if n > kept:
            best, kept = a, n
    return best, kept


def _seconds_to_buildings(posts: pd.DataFrame, net: RoadNet, oneway, bld) -> np.ndarray:
    """Driving seconds from each post (rows) to each building (columns)."""
    settings = ResponseSettings(_env_file=None)
    edges = build_edges(net.lines, net.classes, oneway, [np.nan] * len(net.lines),
                        list(range(len(net.lines))), settings, 0)
    graph = ModeGraph(edges, "drive", posts["geometry"].to_numpy(),
                      posts["turnout_s"].to_numpy(), settings.connector_kmh)
    pts = shapely.point_on_surface(bld["geometry"].to_numpy())
    return graph.seconds_to(graph.node_seconds(), graph.snap(pts))


def _drop_reaching(df: pd.DataFrame, weak, net: RoadNet, oneway, bld) -> pd.DataFrame:
    """Drop driving posts that reach a building of ``weak`` within 5 minutes plus a margin."""
    drive = (df["mode"].to_numpy() == "drive") & (df["status"].to_numpy() == "on_duty")
    mine = bld["community_code"].to_numpy() == weak.code
    secs = _seconds_to_buildings(df[drive], net, oneway, bld[mine]).min(axis=1)
    bad = np.flatnonzero(drive)[secs < WEAK_MINUTES * 60 + MARGIN_S]
    return df.drop(index=df.index[bad]).reset_index(drop=True)

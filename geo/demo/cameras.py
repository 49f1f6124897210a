"""Cameras of the 雪亮工程: classes A/B/C ≈ 30/66/4 %, denser along arterials.

Class A (police) sits on roads and at arterial crossings (vehicle checkpoints,
face cameras); class B (units) guards compounds, schools, hospitals and shops
and some road sides; class C (social) hangs on shops. Codes follow GB/T 28181:
centre code (8) + industry (2) + type 132 (IPC) + network (1) + serial (6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.demo.layout import Area
from geo.demo.roads import HALF_WIDTH, RoadNet

CLASS_SHARE = {"A": 0.30, "B": 0.66, "C": 0.04}
KIND_MIX = {"A": {"bullet": 0.40, "ptz": 0.20, "face": 0.20, "vehicle": 0.15, "dome": 0.05},
            "B": {"bullet": 0.60, "dome": 0.35, "ptz": 0.05},
            "C": {"bullet": 0.50, "dome": 0.50}}
# kind → (fov range, range_m range, height range, tilt range); dome/ptz see all around.
OPTICS = {"bullet": ((50, 90), (40, 80), (3.5, 6), (8, 20)),
          "dome": ((360, 360), (20, 35), (3, 5), (20, 40)),
          "ptz": ((360, 360), (80, 150), (8, 14), (5, 15)),
          "face": ((30, 50), (15, 30), (3, 4.5), (10, 20)),
          "vehicle": ((25, 40), (30, 60), (6, 7.5), (10, 20))}
KIND_CN = {"bullet": "枪机", "dome": "半球", "ptz": "云台", "face": "人脸", "vehicle": "卡口"}
ROAD_WEIGHT = {"arterial": 4.0, "secondary": 2.0, "local": 1.0}
INDUSTRY = {"A": "00", "B": "01", "C": "03"}
NETWORK = {"A": "0", "B": "8", "C": "8"}
#: A typical camera range (m); planted gaps keep 1.5× this free of cameras.
TYPICAL_RANGE_M = 60.0


def _road_sites(net: RoadNet, n: int, rng: np.random.Generator, classes: tuple[str, ...]):
    """Points beside roads (length × class weight), with the road direction and name."""
    idx = [i for i, c in enumerate(net.classes) if c in classes]
    lines = np.array([net.lines[i] for i in idx], dtype=object)
    w = shapely.length(lines) * np.array([ROAD_WEIGHT[net.classes[i]] for i in idx])
    pick = rng.choice(len(idx), n, p=w / w.sum())
    t = rng.uniform(0.02, 0.98, n)
    p0 = shapely.line_interpolate_point(lines[pick], t, normalized=True)
    p1 = shapely.line_interpolate_point(lines[pick], np.minimum(t + 0.01, 1), normalized=True)
    dx, dy = shapely.get_x(p1) - shapely.get_x(p0), shapely.get_y(p1) - shapely.get_y(p0)
    norm = np.hypot(dx, dy) + 1e-9
    side = rng.choice([-1.0, 1.0], n)
    half = np.array([HALF_WIDTH[net.classes[idx[k]]] for k in pick])
    off = side * (half + rng.uniform(0.5, 2.5, n))
    x = shapely.get_x(p0) - dy / norm * off
    y = shapely.get_y(p0) + dx / norm * off
    heading = np.degrees(np.arctan2(dx, dy)) % 360  # clockwise from north
    heading = (heading + rng.choice([0.0, 180.0], n) + rng.normal(0, 12, n)) % 360
    names = [net.names[idx[k]] or "支路" for k in pick]
    return x, y, heading, names


def _crossings(net: RoadNet) -> np.ndarray:
    """Points where two arterials cross."""
    art = net.of_class("arterial")
    pts = []
    for i in range(len(art)):
        for j in range(i + 1, len(art)):
            inter = art[i].intersection(art[j])
            pts += [(p.x, p.y) for p in shapely.get_parts(inter) if p.geom_type == "Point"]
    return np.array(pts).reshape(-1, 2)


def _building_sites(buildings: pd.DataFrame, n: int, rng: np.random.Generator, weight):
    """Points 2 m outside a building wall, looking away from it."""
    geoms = buildings["geometry"].to_numpy()
    w = np.asarray(weight, float)
    pick = rng.choice(len(geoms), n, p=w / w.sum())
    ring = shapely.get_exterior_ring(geoms[pick])
    t = rng.uniform(0, 1, n)
    p = shapely.line_interpolate_point(ring, t, normalized=True)
    c = shapely.centroid(geoms[pick])
    dx, dy = shapely.get_x(p) - shapely.get_x(c), shapely.get_y(p) - shapely.get_y(c)
    norm = np.hypot(dx, dy) + 1e-9
    x, y = shapely.get_x(p) + dx / norm * 2.0, shapely.get_y(p) + dy / norm * 2.0
    heading = (np.degrees(np.arctan2(dx, dy)) + rng.normal(0, 25, n)) % 360
    return x, y, heading, list(buildings["community_code"].to_numpy()[pick])


def _optics(kind: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """fov, range, height and tilt drawn per kind."""
    out = {k: np.zeros(len(kind)) for k in ("fov", "range_m", "height_m", "tilt")}
    for k, ranges in OPTICS.items():
        m = kind == k
        for field, (lo, hi) in zip(("fov", "range_m", "height_m", "tilt"), ranges, strict=True):
            out[field][m] = np.round(rng.uniform(lo, hi, m.sum()), 1)
    return out


def make_cameras(n: int, net: RoadNet, buildings: pd.DataFrame, areas: list[Area],
                 rng: np.random.Generator) -> pd.DataFrame:
    """Cameras (local metres) with canonical fields; ``district_code`` for the codes."""
    n_a, n_c = int(round(n * CLASS_SHARE["A"])), int(round(n * CLASS_SHARE["C"]))
    n_b = n - n_a - n_c
    frames = []
    cross = _crossings(net)
    k_cross = min(len(cross) * 2, n_a // 4)
    cx = np.repeat(cross, 2, axis=0)[:k_cross] + rng.normal(0, 8, (k_cross, 2))
    frames.append(pd.DataFrame({"x": cx[:, 0], "y": cx[:, 1],
                                "azimuth": rng.uniform(0, 360, k_cross),
                                "anchor": "路口", "class": "A", "kind": "vehicle"}))
    x, y, h, names = _road_sites(net, n_a - k_cross, rng, ("arterial", "secondary"))
    frames.append(pd.DataFrame({"x": x, "y": y, "azimuth": h, "anchor": names, "class": "A"}))
    n_b_road = int(n_b * 0.4)
    x, y, h, names = _road_sites(net, n_b_road, rng, ("arterial", "secondary", "local"))
    frames.append(pd.DataFrame({"x": x, "y": y, "azimuth": h, "anchor": names, "class": "B"}))
    comm_name = {a.code: a.name for a in areas}
    hh = buildings["households"].to_numpy()
    nonres = (buildings["kind"] == "non_residential").to_numpy()
    for cls, k, weight in (("B", n_b - n_b_road, hh + 30.0 * nonres + 1.0),
                           ("C", n_c, nonres + 0.01)):
        x, y, h, codes = _building_sites(buildings, k, rng, weight)
        frames.append(pd.DataFrame({"x": x, "y": y, "azimuth": h, "class": cls,
                                    "anchor": [comm_name[c] for c in codes]}))
    df = pd.concat(frames, ignore_index=True)
    for cls, mix in KIND_MIX.items():
        m = (df["class"] == cls).to_numpy() & df["kind"].isna().to_numpy()
        df.loc[m, "kind"] = rng.choice(list(mix), m.sum(), p=list(mix.values()))
    kind = df["kind"].to_numpy().astype(str)
    for field, values in _optics(kind, rng).items():
        df[field] = values
    df["azimuth"] = np.round(df["azimuth"].to_numpy() % 360, 1) % 360
    df["status"] = rng.choice(["online", "offline", "fault"], len(df), p=[0.94, 0.04, 0.02])
    df["geometry"] = shapely.points(df["x"].to_numpy(), df["y"].to_numpy())
    df["district_code"] = _district_of(df["geometry"].to_numpy(), areas)
    return df


def _district_of(points: np.ndarray, areas: list[Area]) -> np.ndarray:
    """District code of each point (nearest district when outside all)."""
    districts = [a for a in areas if a.level == "district"]
    dist = np.stack([shapely.distance(d.geom, points) for d in districts])
    return np.array([d.code for d in districts])[dist.argmin(0)]


def finish_cameras(df: pd.DataFrame) -> pd.DataFrame:
    """Number the cameras that survived (names, GB/T 28181 codes) in a stable order."""
    df = df.reset_index(drop=True)
    serial = np.arange(1, len(df) + 1)
    cls = df["class"].to_numpy()
    industry = np.where(df["kind"].to_numpy() == "vehicle", "05",
                        pd.Series(cls).map(INDUSTRY).to_numpy())
    df["code"] = [f"{d}01{ind}132{NETWORK[c]}{s:06d}" for d, ind, c, s in
                  zip(df["district_code"], industry, cls, serial, strict=True)]
    seq = df.groupby(["anchor", "kind"]).cumcount() + 1
    df["name"] = [f"{a}{KIND_CN[k]}{s:02d}" for a, k, s in
                  zip(df["anchor"], df["kind"], seq, strict=True)]
    return df

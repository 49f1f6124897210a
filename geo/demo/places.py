"""Key places: schools, hospitals, stations, police, markets, government, hotels, parks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.demo.blocks import Blocks
from geo.demo.layout import Area

# kind → (how many per community, key share, name suffixes)
PLAN = {
    "school": (0.5, 1.0, ["小学", "中学", "实验学校", "幼儿园"]),
    "hospital": (0.08, 1.0, ["人民医院", "中医院", "社区卫生服务中心", "妇幼保健院"]),
    "station": (0.04, 1.0, ["公交枢纽站", "长途汽车站", "火车站"]),
    "market": (0.18, 0.5, ["农贸市场", "综合市场", "夜市"]),
    "hotel": (0.15, 0.0, ["宾馆", "大酒店", "快捷酒店"]),
    "other": (0.10, 0.0, ["商业广场", "购物中心", "体育馆"]),
}


def make_places(areas: list[Area], blocks: Blocks, buildings: pd.DataFrame,
                rng: np.random.Generator) -> pd.DataFrame:
    """Places as points (local metres) on non-residential buildings or in parks."""
    comms = [a for a in areas if a.level == "community"]
    nonres = buildings[buildings["kind"] == "non_residential"]
    pts = shapely.centroid(nonres["geometry"].to_numpy())
    used: set[int] = set()
    rows = []

    def take(where: np.ndarray | None = None) -> int:
        pool = np.flatnonzero(where if where is not None else np.ones(len(nonres), bool))
        pool = np.array([i for i in pool if i not in used]) if len(pool) else pool
        if len(pool) == 0:
            pool = np.array([i for i in range(len(nonres)) if i not in used])
        i = int(rng.choice(pool))
        used.add(i)
        return i

    for a in areas:
        if a.level == "community":
            continue
        near = shapely.distance(pts, a.geom.centroid) < 600
        inside = shapely.contains(a.geom, pts)
        i = take(near & inside if (near & inside).any() else inside)
        kind_name = "人民政府" if a.level == "district" else "办事处"
        rows.append({"name": a.name + kind_name, "kind": "government", "key": True, "i": i})
        if a.level == "street":
            rows.append({"name": a.name.removesuffix("街道") + "派出所", "kind": "police",
                         "key": True, "i": take(inside)})
    for kind, (per, key_share, suffixes) in PLAN.items():
        for _ in range(max(1, int(round(per * len(comms))))):
            comm = comms[int(rng.integers(len(comms)))]
            i = take(shapely.contains(comm.geom, pts))
            stem = comm.name.removesuffix("社区")
            rows.append({"name": stem + str(rng.choice(suffixes)), "kind": kind,
                         "key": bool(rng.random() < key_share), "i": i})
    df = pd.DataFrame(rows)
    df["geometry"] = pts[df.pop("i").to_numpy()]
    parks = blocks.geoms[blocks.use == "park"]
    park_rows = pd.DataFrame({"name": [f"第{j + 1}街心公园" for j in range(len(parks))],
                              "kind": "other", "key": False,
                              "geometry": shapely.point_on_surface(parks)})
    return pd.concat([df, park_rows], ignore_index=True)

"""City blocks: community land between road surfaces and the river, with a land use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from geo.demo.layout import Area
from geo.demo.roads import RoadNet
from geo.demo.spec import DemoSpec

USES = ("tower", "lowrise", "mixed", "industrial", "village", "park")
MIN_BLOCK_M2 = 1_500.0


@dataclass
class Blocks:
    """Block polygons (local metres) with their community code and land use."""

    geoms: np.ndarray
    community_code: np.ndarray
    use: np.ndarray


def _community_use(x: float, y: float, spec: DemoSpec, rng: np.random.Generator) -> str:
    """A community's character: towers near the centre, villages and industry outside."""
    r = np.hypot(x / (spec.width_m / 2), y / (spec.height_m / 2))
    if r < 0.45:
        w = [0.55, 0.15, 0.30, 0.0, 0.0]
    elif r < 0.75:
        w = [0.25, 0.45, 0.15, 0.15, 0.0]
    else:
        w = [0.10, 0.25, 0.0, 0.30, 0.35]
    if x > 0.3 * spec.width_m / 2:
        w[3] *= 2.0
    w = np.array(w) / np.sum(w)
    return USES[int(rng.choice(5, p=w))]


def make_blocks(spec: DemoSpec, communities: list[Area], net: RoadNet,
                local: list[list], rng: np.random.Generator) -> Blocks:
    """Cut communities by road surfaces and the river; give every block a land use."""
    lines = list(net.lines) + [g for ls in local for g in ls]
    classes = list(net.classes) + ["local"] * (len(lines) - len(net.lines))
    tmp = RoadNet(lines, classes, [None] * len(lines))
    barrier = shapely.union(tmp.surface(), net.river.buffer(15.0))
    geoms, codes, uses = [], [], []
    for area in communities:
        c = area.geom.centroid
        base = _community_use(c.x, c.y, spec, rng)
        parts = shapely.get_parts(shapely.difference(area.geom, barrier))
        parts = parts[shapely.area(parts) >= MIN_BLOCK_M2]
        for part in parts:
            u = rng.random()
            if u < 0.05 and part.area > 8_000:
                use = "park"
            elif u < 0.14:
                use = USES[int(rng.integers(0, 5))]
            else:
                use = base
            geoms.append(part)
            codes.append(area.code)
            uses.append(use)
    return Blocks(np.array(geoms, dtype=object), np.array(codes), np.array(uses))

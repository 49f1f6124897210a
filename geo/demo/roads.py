"""The city outline, the road network (not a lattice) and the river, in local metres.

Coordinates are metres relative to the city centre; :mod:`geo.demo.city` shifts
them into UTM and then to lon/lat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import affinity, ops
from shapely.geometry import LineString, Polygon

from geo.demo.names import ROAD_STEMS, unique_names
from geo.demo.spec import DemoSpec
from geo.response.network import join_gaps

#: Half widths of the road surface per class (m): blocks stop there.
HALF_WIDTH = {"arterial": 20.0, "secondary": 12.0, "local": 6.0}


@dataclass
class RoadNet:
    """Road lines with class and name, plus the river."""

    lines: list[LineString] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    river: Polygon | None = None
    river_name: str = "猪龙河"

    def add(self, geoms, cls: str, name: str | None) -> None:
        """Add the LineString parts of ``geoms`` with one class and name."""
        for part in shapely.get_parts(np.atleast_1d(geoms)):
            if part.is_empty or part.geom_type != "LineString" or part.length < 20:
                continue
            self.lines.append(part)
            self.classes.append(cls)
            self.names.append(name)

    def of_class(self, *classes: str) -> list[LineString]:
        """The lines of the given classes."""
        return [g for g, c in zip(self.lines, self.classes, strict=True) if c in classes]

    def surface(self) -> shapely.Geometry:
        """The paved area of every road (line buffered by its class half width)."""
        widths = np.array([HALF_WIDTH[c] for c in self.classes])
        return shapely.union_all(shapely.buffer(np.array(self.lines, dtype=object), widths,
                                                cap_style="flat"))


def city_boundary(spec: DemoSpec, rng: np.random.Generator) -> Polygon:
    """An irregular, roughly rectangular city outline inside the spec's extent."""
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    a, b = spec.width_m / 2, spec.height_m / 2
    c, s = np.cos(angles), np.sin(angles)
    # Superellipse (p=4): boxy with rounded corners; radial noise makes it irregular.
    r = 1.0 / (np.abs(c / a) ** 4 + np.abs(s / b) ** 4) ** 0.25
    smooth = np.convolve(np.r_[rng.normal(0, 0.06, 48), rng.normal(0, 0.06, 4)],
                         np.ones(5) / 5, mode="same")[:48]
    r = r * np.clip(0.97 + smooth, 0.85, 1.0)
    return Polygon(np.c_[r * c, r * s]).buffer(0)


def _wavy(start: np.ndarray, end: np.ndarray, rng: np.random.Generator, amp: float,
          step: float = 150.0) -> LineString:
    """A line from start to end bent by a gentle sine plus small node noise."""
    length = float(np.hypot(*(end - start)))
    t = np.linspace(0, 1, max(3, int(length / step)))
    normal = np.array([-(end - start)[1], (end - start)[0]]) / length
    phase, waves = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.5)
    off = amp * np.sin(2 * np.pi * waves * t + phase) + rng.normal(0, amp * 0.08, len(t))
    pts = start + np.outer(t, end - start) + np.outer(off, normal)
    return LineString(pts)


def _lattice(spec: DemoSpec, rng: np.random.Generator, spacing: float, offset: float,
             amp: float) -> list[LineString]:
    """Perturbed north–south and east–west lines at ``spacing`` (m)."""
    a, b = spec.width_m / 2 + 300, spec.height_m / 2 + 300
    lines = []
    for x in np.arange(-a + offset, a, spacing):
        x = x + rng.normal(0, spacing * 0.06)
        lines.append(_wavy(np.array([x, -b]), np.array([x + rng.normal(0, 60), b]), rng, amp))
    for y in np.arange(-b + offset, b, spacing):
        y = y + rng.normal(0, spacing * 0.06)
        lines.append(_wavy(np.array([-a, y]), np.array([a, y + rng.normal(0, 60)]), rng, amp))
    return lines


def _drop_pieces(line: LineString, rng: np.random.Generator, piece: float,
                 p_drop: float) -> list[LineString]:
    """Cut a line into pieces of about ``piece`` m and drop some: streets that end."""
    n = max(1, int(line.length / piece))
    cuts = np.linspace(0, 1, n + 1)
    keep = rng.random(n) >= p_drop
    return [ops.substring(line, cuts[i], cuts[i + 1], normalized=True)
            for i in range(n) if keep[i]]


def river(spec: DemoSpec, boundary: Polygon, rng: np.random.Generator) -> Polygon:
    """A meandering river band crossing the city west to east."""
    a, b = spec.width_m / 2 + 400, spec.height_m / 2
    y0 = rng.uniform(-0.25, 0.25) * b
    centre = _wavy(np.array([-a, y0]), np.array([a, y0 + rng.uniform(-0.3, 0.3) * b]), rng,
                   amp=min(350.0, b * 0.25), step=100.0)
    width = 70.0 if spec.name == "small" else 90.0
    return centre.buffer(width / 2, quad_segs=4).intersection(boundary.buffer(150))


def road_network(spec: DemoSpec, boundary: Polygon, rng: np.random.Generator) -> RoadNet:
    """Arterials (wavy lattice + one diagonal), secondaries (some discontinued), the river."""
    net = RoadNet()
    s = spec.arterial_spacing_m
    arterials = _lattice(spec, rng, s, s * 0.75, amp=45.0)
    a, b = spec.width_m / 2 + 300, spec.height_m / 2 + 300
    arterials.append(_wavy(np.array([-a, -b * 0.8]), np.array([a, b * 0.6]), rng, amp=120.0))
    seconds = []
    for line in _lattice(spec, rng, s, s * 0.25, amp=30.0):
        seconds += _drop_pieces(line, rng, s, p_drop=0.18)
    n_names = len(arterials) + len(seconds)
    names = unique_names(rng, ROAD_STEMS, n_names, "")
    clip = boundary.buffer(3.0)
    for i, line in enumerate(arterials):
        suffix = "大道" if i == len(arterials) - 1 else "路"
        net.add(line.intersection(clip), "arterial", names[i] + suffix)
    for j, line in enumerate(seconds):
        net.add(line.intersection(clip), "secondary", names[len(arterials) + j] + "街")
    net.river = river(spec, boundary, rng)
    return net


def join_lanes(net: RoadNet, gap_m: float = 3.0) -> None:
    """Draw each lane on to the street it stops short of.

    Lanes are clipped 2 m inside their community; joined, the road network is one
    piece that a post can cross.
    """
    net.lines = list(join_gaps(np.array(net.lines, dtype=object), gap_m))


def local_roads(communities: list[Polygon], rng: np.random.Generator,
                spacing: float = 230.0) -> list[list[LineString]]:
    """Local streets inside each community: a rotated, jittered, gappy lattice."""
    out = []
    for poly in communities:
        x0, y0, x1, y1 = poly.bounds
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half = max(x1 - x0, y1 - y0) / 2 + 50
        ang = rng.normal(0, 8)
        lines = []
        for u in np.arange(-half + rng.uniform(0.4, 0.7) * spacing, half, spacing):
            for horizontal in (False, True):
                if rng.random() < 0.3:
                    continue
                v = u + rng.normal(0, spacing * 0.08)
                pts = [(v, -half), (v, half)] if not horizontal else [(-half, v), (half, v)]
                line = affinity.rotate(LineString(pts), ang, origin=(0, 0))
                lines.append(affinity.translate(line, cx, cy))
        clipped = shapely.intersection(np.array(lines, dtype=object), poly.buffer(-2.0))
        out.append([g for g in clipped.tolist() if not g.is_empty])
    return out

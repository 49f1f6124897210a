"""``generate``: the whole demo city as GeoDataFrames in EPSG:4326 plus its ground truth."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.demo import cameras as cam
from geo.demo import clusters as demo_clusters
from geo.demo import incidents as inc
from geo.demo.blocks import make_blocks
from geo.demo.buildings import make_buildings
from geo.demo.cases import CASE_COLUMNS, add_case_flow
from geo.demo.gaps import choose_gaps, clear_cameras
from geo.demo.gistar import CellGrid, cells_of, polygon_cells
from geo.demo.grids import make_grids
from geo.demo.layout import build_areas
from geo.demo.places import make_places
from geo.demo.posts import make_posts, one_way_lanes
from geo.demo.roads import city_boundary, join_lanes, local_roads, road_network
from geo.demo.spec import DEFAULT_END, WEEKS, Frame, rng_for, spec_for
from geo.demo.truth import build_truth

#: Load order (parents before children, grids after buildings).
LAYERS = ("admin_areas", "waterways", "roads", "places", "buildings", "grids", "cameras",
          "incidents", "posts")


@dataclass
class DemoCity:
    """Every layer of a demo city (EPSG:4326, canonical columns) and what was planted."""

    size: str
    seed: int
    end: date
    admin_areas: gpd.GeoDataFrame
    waterways: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    places: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    cameras: gpd.GeoDataFrame
    incidents: gpd.GeoDataFrame
    posts: gpd.GeoDataFrame
    truth: dict = field(default_factory=dict)

    def layers(self):
        """(name, frame) pairs in load order."""
        return [(name, getattr(self, name)) for name in LAYERS]

    def digest(self) -> str:
        """SHA-256 over every layer's attributes and WKB geometry (a determinism check)."""
        h = hashlib.sha256()
        for name, frame in self.layers():
            h.update(name.encode())
            h.update(pd.util.hash_pandas_object(frame.drop(columns="geometry"),
                                                index=False).to_numpy().tobytes())
            for wkb in shapely.to_wkb(frame.geometry.to_numpy()):
                h.update(wkb)
        return h.hexdigest()


class _Steps:
    """A rich progress bar over the generator steps (silent when disabled)."""

    def __init__(self, enabled: bool, total: int):
        self._bar = None
        self._stack = contextlib.ExitStack()
        if enabled:
            from rich.console import Console
            from rich.progress import Progress
            self._bar = self._stack.enter_context(
                Progress(console=Console(stderr=True), transient=True))
            self._task = self._bar.add_task("demo city", total=total)

    def __call__(self, label: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=f"demo: {label}")

    def close(self) -> None:
        self._stack.close()


def _gdf(frame: Frame, df: pd.DataFrame, columns: list[str]) -> gpd.GeoDataFrame:
    """Local-metre geometries → an EPSG:4326 GeoDataFrame with the given columns."""
    def to_ll(coords: np.ndarray) -> np.ndarray:
        lon, lat = frame.to_lonlat(coords[:, 0] + frame.x0, coords[:, 1] + frame.y0)
        return np.c_[lon, lat]

    geoms = shapely.transform(np.asarray(df["geometry"].to_numpy(), dtype=object), to_ll)
    return gpd.GeoDataFrame(df[columns].reset_index(drop=True), geometry=list(geoms),
                            crs="EPSG:4326")


def generate(size: str = "city", seed: int = 42, end: date | None = None, *,
             progress: bool = False) -> DemoCity:
    """Build the demo city; the same (size, seed, end) always gives identical frames.

    Parameters
    ----------
    size : {"small", "city", "large"}
        Preset (see :data:`geo.demo.spec.SIZES`).
    seed : int
        Random seed (non-negative).
    end : date, optional
        Exclusive last day of the 52 weeks of incidents; default 2026-11-16.
    progress : bool
        Show a rich progress bar.

    Examples
    --------
    >>> city = generate("small", 7)                      # doctest: +SKIP
    >>> sorted(city.cameras["class"].unique())            # doctest: +SKIP
    ['A', 'B', 'C']
    """
    spec = spec_for(size)
    end = end or DEFAULT_END
    start, _ = inc.period(end)
    steps = _Steps(progress, 9)
    try:
        return _build(spec, seed, start, end, steps)
    finally:
        steps.close()


def _build(spec, seed: int, start: date, end: date, step) -> DemoCity:
    frame = Frame()
    boundary = city_boundary(spec, rng_for(seed, "boundary"))
    net = road_network(spec, boundary, rng_for(seed, "roads"))
    areas = build_areas(spec, boundary, net, rng_for(seed, "layout"))
    comms = [a for a in areas if a.level == "community"]
    step("roads and areas")
    local = local_roads([a.geom for a in comms], rng_for(seed, "local-roads"))
    for a, lines in zip(comms, local, strict=True):
        stem = a.name.removesuffix("社区")
        for j, line in enumerate(lines):
            net.add(line, "local", f"{stem}{j + 1}巷")
    blocks = make_blocks(spec, comms, net, [], rng_for(seed, "blocks"))
    gap_idx = choose_gaps(blocks, spec.gaps, boundary, rng_for(seed, "gaps"))
    gaps = blocks.geoms[gap_idx]
    step("blocks")
    bld = make_buildings(blocks, spec.buildings, spec.households, rng_for(seed, "buildings"))
    step("buildings")
    grids = make_grids(comms, bld, rng_for(seed, "grids"))
    places = make_places(areas, blocks, bld, rng_for(seed, "places"))
    step("grids and places")
    cams = cam.make_cameras(int(spec.cameras * 1.04), net, bld, areas, rng_for(seed, "cameras"))
    cams = clear_cameras(cams, gaps)
    if len(cams) > spec.cameras:
        keep = np.sort(rng_for(seed, "camera-trim").permutation(len(cams))[: spec.cameras])
        cams = cams.iloc[keep]
    cams = cam.finish_cameras(cams)
    step("cameras")
    rng = rng_for(seed, "incidents")
    n_bg = int(spec.incidents * spec.background_share)
    bx, by = inc.background_points(n_bg, bld, net, places, boundary, rng)
    density = spec.incidents / boundary.area
    gap_n = [int(round(2.0 * density * g.area)) for g in gaps]
    gx, gy = inc.points_in(list(gaps), gap_n, rng)
    x, y = np.r_[bx, gx], np.r_[by, gy]
    week = rng.choice(WEEKS, len(x), p=inc.week_weights(start))
    lon, lat = frame.to_lonlat(x + frame.x0, y + frame.y0)
    cell_idx_src = cells_of(lon, lat)
    district_ll = _gdf(frame, pd.DataFrame({"geometry": [boundary]}), []).geometry.iloc[0]
    grid = CellGrid(np.r_[polygon_cells(district_ll), cell_idx_src])
    bg = grid.counts(grid.index(cell_idx_src), week, WEEKS)
    step("background incidents")
    keep_out = shapely.union_all(np.r_[shapely.buffer(gaps, 600.0), [net.river.buffer(80)]])
    cent = shapely.centroid(bld["geometry"].to_numpy())
    homes = (shapely.get_x(cent), shapely.get_y(cent), bld["households"].to_numpy())
    clusters = demo_clusters.choose(spec, grid, bg, frame, boundary, keep_out, homes,
                                    rng_for(seed, "clusters"))
    cx, cy, cweek, owner = demo_clusters.plant(clusters, grid, bg, frame, seed)
    step("planted clusters")
    incidents = _incidents(rng, x, y, week, len(bx), cx, cy, cweek, owner, clusters, start, end)
    incidents, case_truth = add_case_flow(incidents, comms, bld, start, end,
                                          rng_for(seed, "case-flow"))
    step("incident details")
    join_lanes(net)  # after every layer drawn from the lanes as they were
    oneway = one_way_lanes(net, rng_for(seed, "oneway"))
    posts, weak = make_posts(areas, net, oneway, bld, rng_for(seed, "posts"))
    city = _assemble(spec, seed, end, frame, areas, net, places, bld, grids, cams, incidents,
                     oneway, posts)
    city.truth = build_truth(spec, seed, start, end, frame, clusters, gaps, city, grid)
    city.truth["response_weakness"] = weak
    city.truth["case_flow"] = case_truth
    step("ground truth")
    return city


def _incidents(rng, x, y, week, n_bg, cx, cy, cweek, owner, clusters, start, end):
    """Background, gap and cluster incidents with times and kinds, as one frame."""
    t = inc.times_in_weeks(week, rng)
    ct = inc.times_in_weeks(cweek, rng, margin_h=9.0)
    source, cat, sub = inc.kinds(len(x), rng)
    parts = [pd.DataFrame({"x": x, "y": y, "t": t, "source": source, "category": cat,
                           "subcategory": sub})]
    for k, c in enumerate(clusters):
        m = owner == k
        s, ca, su = inc.kinds(int(m.sum()), rng, dominant=c.category, share=0.6)
        parts.append(pd.DataFrame({"x": cx[m], "y": cy[m], "t": ct[m], "source": s,
                                   "category": ca, "subcategory": su}))
    df = pd.concat(parts, ignore_index=True)
    df["geometry"] = shapely.points(df["x"].to_numpy(), df["y"].to_numpy())
    return inc.finish_incidents(df.drop(columns=["x", "y"]), start, end, rng)


def _assemble(spec, seed, end, frame, areas, net, places, bld, grids, cams, incidents, oneway,
              posts):
    admin = pd.DataFrame([{"code": a.code, "name": a.name, "level": a.level,
                           "parent_code": a.parent_code, "geometry": a.geom} for a in areas])
    roads = pd.DataFrame({"name": net.names, "class": net.classes, "oneway": oneway,
                          "geometry": net.lines})
    water = pd.DataFrame({"name": [net.river_name], "kind": ["river"], "geometry": [net.river]})
    return DemoCity(
        size=spec.name, seed=seed, end=end,
        admin_areas=_gdf(frame, admin, ["code", "name", "level", "parent_code"]),
        waterways=_gdf(frame, water, ["name", "kind"]),
        roads=_gdf(frame, roads, ["name", "class", "oneway"]),
        places=_gdf(frame, places, ["name", "kind", "key"]),
        buildings=_gdf(frame, bld, ["code", "households", "population", "floors", "kind",
                                    "community_code"]),
        grids=_gdf(frame, grids, ["code", "name", "community_code", "worker"]),
        cameras=_gdf(frame, cams, ["code", "name", "class", "kind", "azimuth", "fov", "range_m",
                                   "height_m", "tilt", "status"]),
        incidents=_gdf(frame, incidents, ["external_id", "source", "category", "subcategory",
                                          "occurred_at", "status", "resolved_at",
                                          *CASE_COLUMNS]),
        posts=_gdf(frame, posts, ["code", "name", "kind", "mode", "turnout_s", "status"]),
    )

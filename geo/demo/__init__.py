"""The deterministic demo city: roads, river, areas, buildings, grids, places, cameras,
incidents with planted hotspot clusters and camera gaps, and the ground truth."""

from geo.demo.city import LAYERS, DemoCity, generate
from geo.demo.load import DemoLoad, load_demo
from geo.demo.spec import DEFAULT_END, SIZES
from geo.demo.truth import truth_path

__all__ = ["DEFAULT_END", "LAYERS", "SIZES", "DemoCity", "DemoLoad", "generate", "load_demo",
           "truth_path"]

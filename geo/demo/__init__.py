"""The deterministic demo city and its ground truth.

Roads, a river, areas, buildings, grids, places, cameras and incidents with
planted hotspot clusters and camera gaps.
"""

from geo.demo.city import LAYERS, DemoCity, generate
from geo.demo.load import DemoLoad, DemoSettings, load_demo
from geo.demo.spec import DEFAULT_END, SIZES
from geo.demo.truth import truth_path

__all__ = ["DEFAULT_END", "LAYERS", "SIZES", "DemoCity", "DemoLoad", "DemoSettings", "generate",
           "load_demo", "truth_path"]

"""Size presets, the local metric frame and seeded random streams of the demo city."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np
from pyproj import Transformer

from geo.errors import InvalidInput

#: Centre of the demo city (near Zibo, Shandong).
CENTRE_LON, CENTRE_LAT = 118.05, 36.80
#: Metric CRS of the generator: UTM zone 50N (Zibo lies in 114°E–120°E).
METRIC_EPSG = 32650
#: The default last day of the demo (exclusive, a Monday): the default demo is reproducible.
DEFAULT_END = date(2026, 11, 16)
#: Weeks of incidents before ``end``.
WEEKS = 52
#: Local time zone of the incidents.
TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class DemoSpec:
    """What one demo size holds.

    Parameters
    ----------
    name : str
        ``small``, ``city`` or ``large``.
    width_m, height_m : float
        Extent of the city around the centre.
    districts : list of (code, name)
        The districts (区县) the city is split into.
    streets_per_district : int
        Streets (街道) per district.
    buildings : int
        Target number of buildings.
    households : int
        Target number of households (≈ 300 per grid).
    cameras : int
        Target number of cameras.
    incidents : int
        Target number of incidents over the 52 weeks.
    clusters_per_pattern : int
        Planted hotspot clusters of each pattern (new, intensifying, persistent, diminishing).
    gaps : int
        Planted camera gaps.
    """

    name: str
    width_m: float
    height_m: float
    districts: tuple[tuple[str, str], ...]
    streets_per_district: int
    buildings: int
    households: int
    cameras: int
    incidents: int
    clusters_per_pattern: int
    gaps: int
    arterial_spacing_m: float = 1000.0
    min_community_m2: float = 120_000.0
    #: Gi* z targets (weekly, k=1 ring) of the planted clusters: (low, high).
    z_range: tuple[float, float] = (4.0, 7.0)
    #: Share of ``incidents`` drawn as background; planted clusters and gaps add the rest.
    background_share: float = 0.835


SIZES: dict[str, DemoSpec] = {
    # Small is spread out on purpose: Gi* needs enough cells around four planted clusters.
    "small": DemoSpec(
        "small", 4200, 3200, (("370303", "张店区"),), 2,
        buildings=1_500, households=18_000, cameras=300, incidents=30_000,
        clusters_per_pattern=1, gaps=2, arterial_spacing_m=1400.0,
        min_community_m2=450_000.0, z_range=(3.6, 5.6), background_share=0.76,
    ),
    "city": DemoSpec(
        "city", 6400, 4800, (("370303", "张店区"),), 8,
        buildings=15_000, households=180_000, cameras=3_000, incidents=500_000,
        clusters_per_pattern=2, gaps=4,
    ),
    "large": DemoSpec(
        "large", 12000, 8800,
        (("370302", "淄川区"), ("370303", "张店区"), ("370305", "临淄区")), 8,
        buildings=50_000, households=600_000, cameras=10_000, incidents=2_000_000,
        clusters_per_pattern=3, gaps=8, background_share=0.915,
    ),
}


def spec_for(size: str) -> DemoSpec:
    """The preset of a size name, or a clear error."""
    try:
        return SIZES[size]
    except KeyError:
        known = ", ".join(SIZES)
        raise InvalidInput(f"unknown demo size {size!r}; choose one of {known}") from None


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """An independent random stream per generator step, stable across runs.

    Each step draws from its own stream so that changing one step never shifts
    the numbers of another.
    """
    if seed < 0:
        raise InvalidInput("the demo seed must be a non-negative integer")
    return np.random.default_rng([seed, zlib.crc32(stream.encode("utf-8"))])


class Frame:
    """The local metric frame: UTM 50N with the city centre at ``(x0, y0)``."""

    def __init__(self) -> None:
        self._fwd = Transformer.from_crs(4326, METRIC_EPSG, always_xy=True)
        self._inv = Transformer.from_crs(METRIC_EPSG, 4326, always_xy=True)
        self.x0, self.y0 = self._fwd.transform(CENTRE_LON, CENTRE_LAT)

    def to_lonlat(self, x, y):
        """Metric coordinates → lon/lat arrays."""
        return self._inv.transform(np.asarray(x, float), np.asarray(y, float))

    def to_metric(self, lon, lat):
        """Lon/lat arrays → metric coordinates."""
        return self._fwd.transform(np.asarray(lon, float), np.asarray(lat, float))

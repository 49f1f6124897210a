"""Settings of the tile service (``ONEMAP_TILE_*``), validated at start."""

from __future__ import annotations

from pydantic import BaseModel, Field

from geo.settings import LocalTimeSettings
from geo.settings_base import concern


class LayerOverride(BaseModel):
    """Per-layer overrides of the registry defaults (all optional)."""

    model_config = {"extra": "forbid"}

    minzoom: int | None = Field(None, ge=0, le=24)
    maxzoom: int | None = Field(None, ge=0, le=24)
    cluster_below: int | None = Field(None, ge=0, le=25)
    simplify_below: int | None = Field(None, ge=0, le=25)
    feature_limit: int | None = Field(None, ge=1)
    timeout_ms: int | None = Field(None, ge=10)
    cache_control: str | None = None


class TileSettings(LocalTimeSettings):
    """How tiles are rendered, cached and served.

    ``tile_layers`` takes JSON per layer, e.g.
    ``ONEMAP_TILE_LAYERS='{"cameras": {"cluster_below": 12, "cache_control": "no-cache"}}'``.
    Filter times given without a zone are in ``local_timezone``, the one zone setting
    (inherited from ``LocalTimeSettings``).
    """

    model_config = concern()

    tile_cache_mb: float = Field(256.0, ge=0, description=(
        "byte budget (MiB) of the in-process tile cache; 0 disables caching (coalescing of "
        "identical requests stays on)"))
    tile_extent: int = Field(4096, ge=256, le=16384, description=(
        "MVT extent: tile units across a tile (ST_AsMVTGeom)"))
    tile_buffer: int = Field(256, ge=0, le=4096, description=(
        "buffer in tile units of point layers and computed cells (markers drawn across tile "
        "edges)"))
    tile_polygon_buffer: int = Field(64, ge=0, le=4096, description=(
        "buffer in tile units of line and polygon layers (only their strokes cross the "
        "edge)"))
    tile_cluster_below: int = Field(14, ge=0, le=25, description=(
        "point layers are clustered below this zoom"))
    tile_cluster_px: int = Field(32, ge=4, le=256, description=(
        "width of a cluster cell in pixels of a 256-pixel tile"))
    tile_simplify_below: int = Field(14, ge=0, le=25, description=(
        "polygons and lines are simplified below this zoom"))
    tile_simplify_units: float = Field(4.0, ge=0, description=(
        "simplification tolerance in units of the 4096 grid"))
    tile_min_feature_px: float = Field(1.0, ge=0, description=(
        "below tile_simplify_below, features whose bounding box is under this many pixels (of "
        "a 256-pixel tile) in both directions are left out (0 keeps everything)"))
    tile_feature_limit: int = Field(20_000, ge=1, description=(
        "most features one layer puts in a tile (ONEMAP_TILE_LAYERS may set it per layer)"))
    tile_timeout_ms: int = Field(10_000, ge=10, description=(
        "longest a tile's query may run, in ms (ONEMAP_TILE_LAYERS may set it per layer)"))
    tile_cache_control: str = Field("public, max-age=60", description=(
        "Cache-Control header of tile answers (ONEMAP_TILE_LAYERS may set it per layer)"))
    tile_gzip_level: int = Field(1, ge=1, le=9, description=(
        "gzip level of cached tiles (1 = fastest; MVT compresses well even at 1; levels 1-3 "
        "use Intel ISA-L, about 5x faster than zlib at the same size)"))
    tile_version_poll_s: float = Field(5.0, gt=0, description=(
        "seconds between looks at layer_versions when LISTEN misses a notification"))
    tile_time_quantum_s: int = Field(3600, ge=1, description=(
        "relative time windows and an open-ended 'to' are rounded to this many seconds (so "
        "their tiles can be cached)"))
    tile_widget_camera_cell: float = Field(300.0, ge=10, description=(
        "widget role with ONEMAP_WIDGET_CAMERAS=coarsen: cameras are counted on a global grid "
        "of cells this many Web-Mercator metres wide"))
    tile_layers: dict[str, LayerOverride] = Field(default_factory=dict, description=(
        "JSON overrides per layer of minzoom, maxzoom, cluster_below, simplify_below, "
        "feature_limit, timeout_ms, cache_control"))

    @property
    def tile_timezone(self) -> str:
        """The local time zone (``local_timezone``)."""
        return self.local_timezone

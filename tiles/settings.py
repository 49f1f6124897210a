"""Settings of the tile service (``ONEMAP_TILE_*``), validated at start."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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


class TileSettings(BaseSettings):
    """How tiles are rendered, cached and served.

    ``tile_layers`` takes JSON per layer, e.g.
    ``ONEMAP_TILE_LAYERS='{"cameras": {"cluster_below": 12, "cache_control": "no-cache"}}'``.
    """

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore", populate_by_name=True)

    # Byte budget of the in-process tile cache; 0 disables caching (coalescing stays on).
    tile_cache_mb: float = Field(256.0, ge=0)
    # MVT extent and buffers (in tile units) used by ST_AsMVTGeom and the && margin:
    # points and computed cells get a wide buffer (markers drawn across tile edges),
    # lines and polygons a narrow one (only their strokes cross the edge).
    tile_extent: int = Field(4096, ge=256, le=16384)
    tile_buffer: int = Field(256, ge=0, le=4096)
    tile_polygon_buffer: int = Field(64, ge=0, le=4096)
    # Point layers are clustered below this zoom; cells are this many pixels (of 256) wide.
    tile_cluster_below: int = Field(14, ge=0, le=25)
    tile_cluster_px: int = Field(32, ge=4, le=256)
    # Polygons and lines are simplified below this zoom with this tolerance in 4096-grid units.
    tile_simplify_below: int = Field(14, ge=0, le=25)
    tile_simplify_units: float = Field(4.0, ge=0)
    # ... and features whose bounding box is under this many pixels (of a 256-px tile)
    # in both directions are left out there (0 keeps everything).
    tile_min_feature_px: float = Field(1.0, ge=0)
    tile_feature_limit: int = Field(20_000, ge=1)
    tile_timeout_ms: int = Field(10_000, ge=10)
    tile_cache_control: str = "public, max-age=60"
    # gzip level for cached tiles (1 = fastest; MVT compresses well even at 1). Levels 1-3
    # use Intel ISA-L (python-isal), about 5x faster than zlib at the same size.
    tile_gzip_level: int = Field(1, ge=1, le=9)
    # Fallback poll of layer_versions when LISTEN misses a notification.
    tile_version_poll_s: float = Field(5.0, gt=0)
    # Relative time windows and open-ended ``to`` are rounded to this many seconds.
    tile_time_quantum_s: int = Field(3600, ge=1)
    # The service's one local time zone (geo.settings.LocalTimeSettings).
    tile_timezone: str = Field("Asia/Shanghai", validation_alias="ONEMAP_LOCAL_TIMEZONE",
                               description="ONEMAP_LOCAL_TIMEZONE: zone of filter times "
                                           "given without one")
    # Widget role, cameras "coarsen": counts on a global grid of this size (Web Mercator m).
    tile_widget_camera_cell: float = Field(300.0, ge=10)
    tile_layers: dict[str, LayerOverride] = {}

"""Settings of the hotspot analyses (``ONEMAP_HOTSPOT_*``)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class HotspotSettings(BaseSettings):
    """Defaults and limits of the hotspot analyses.

    ``alpha`` is the false-discovery rate of the middle (95 %) bin: bins ±3/±2/±1
    use FDR levels ``alpha/5``, ``alpha`` and ``2*alpha`` (0.01/0.05/0.10 by default).
    """

    model_config = SettingsConfigDict(env_prefix="ONEMAP_HOTSPOT_", extra="ignore",
                                      populate_by_name=True)

    res: int = Field(9, ge=6, le=12)
    k: int = Field(1, ge=1, le=3)
    alpha: float = Field(0.05, gt=0, le=0.2)
    # Gi* on fewer incidents than this is noise: the request is refused.
    min_incidents: int = Field(30, ge=1)
    # The service's one local time zone (geo.settings.LocalTimeSettings), read here for
    # week/month steps and for dates given without a zone.
    timezone: str = Field("Asia/Shanghai", validation_alias="ONEMAP_LOCAL_TIMEZONE",
                          description="ONEMAP_LOCAL_TIMEZONE: local zone of naive times "
                                      "and of week/month steps")
    # Buffer of the incidents' extent when there are no admin areas (metres).
    area_buffer_m: float = Field(500.0, ge=0)
    # Refuse studies with more cells than this (narrow with bbox or a coarser res).
    max_cells: int = Field(400_000, ge=100)
    # Hold the incidents' columns in memory when the table has at most this many rows.
    memory_rows: int = Field(5_000_000, ge=0)
    # Answers may read an incidents snapshot known current at most this many seconds
    # ago while a newer one loads in the background (0: always wait for the newest).
    max_stale_s: float = Field(5.0, ge=0)
    # Hotspot computations running at once per server process (others queue).
    max_concurrent: int = Field(4, ge=1)
    # Result cache entries kept per process.
    cache_entries: int = Field(64, ge=0)
    # At app start, load the incidents' columns, the study cells, weights and feature
    # outlines of the default resolution in a background thread, so that the first
    # request does not pay for them (start and readiness never wait for it).
    warm_up: bool = True
    # Emerging hot spots: bins significant at FDR level ``emerging_alpha`` count as
    # hot/cold (ArcGIS counts any of 90/95/99 %); Mann–Kendall trend level.
    emerging_alpha: float = Field(0.10, gt=0, le=0.2)
    trend_alpha: float = Field(0.05, gt=0, le=0.2)
    # Previous time steps in the space-time neighbourhood: 0 = each step its own Gi*
    # study (default); ≥ 1 = ArcGIS-style space-time Gi* over the whole cube.
    time_window: int = Field(0, ge=0, le=12)

    # Size limits, checked on an estimate before any work (refused with 400 too_large).
    heatmap_max_cells: int = Field(
        1_000_000, ge=1_000,
        description="most H3 cells a heatmap may evaluate (the incidents' extent grown by "
                    "the bandwidth, at the output res)")
    heatmap_max_pairs: int = Field(
        30_000_000, ge=1_000,
        description="most (cell, incident cell) pairs within the bandwidth a heatmap may "
                    "sum (memory grows with it: about 40 bytes a pair)")
    emerging_max_bins: int = Field(
        20_000_000, ge=1_000,
        description="most cell × time-step bins an emerging hot spot analysis may hold")
    emerging_max_work: int = Field(
        200_000_000, ge=1_000,
        description="most bins × k-ring neighbours × (time_window + 1) an emerging hot "
                    "spot analysis may weigh (its space-time weights' size)")
    time_budget_s: float = Field(
        60.0, gt=0,
        description="seconds an analysis may run before the request is answered 400 "
                    "time_budget_exceeded (the computation is abandoned)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        ZoneInfo(v)
        return v

"""Coverage settings, read from ``ONEMAP_COVERAGE_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoverageSettings(BaseSettings):
    """How views are modelled and how figures, gaps and siting are computed."""

    model_config = SettingsConfigDict(env_prefix="ONEMAP_COVERAGE_", extra="ignore")

    # View model (see geo.coverage.optics).
    detail: str | None = Field(None, pattern="^(detect|observe|recognise|identify)$")
    aspect: float = Field(16 / 9, gt=0.2, lt=5)
    lens_fov: float = Field(60.0, gt=0, lt=180)
    mount_tolerance_m: float = Field(0.0, ge=0, le=10)
    min_view_m2: float = Field(1.0, ge=0)
    n_arc: int = Field(96, ge=8, le=720)
    # Full refresh: worker processes and cameras per batch.
    workers: int = Field(2, ge=1, le=64)
    batch: int = Field(1000, ge=10)
    # Figures: incident window (days, ending at the newest incident unless told),
    # H3 resolution of the cell basis, share of a cell / place that must be seen.
    window_days: int = Field(90, ge=1, le=3660)
    cell_res: int = Field(10, ge=6, le=13)
    cell_min_share: float = Field(0.5, gt=0, le=1)
    place_min_share: float = Field(0.25, gt=0, le=1)
    apron_m: float = Field(5.0, ge=0, le=100)
    # Incidents within this distance of a building are its occupants' matters: gaps rank
    # by the incidents out in the open.
    attach_m: float = Field(15.0, ge=0, le=200)
    # Gaps: tessellation (H3 resolution), minimum area, weight of one hectare in the priority.
    gap_res: int = Field(10, ge=6, le=12)
    gap_min_area_m2: float = Field(200.0, ge=0)
    gap_area_weight: float = Field(1.0, ge=0)
    # Siting: candidate spacing along roads, azimuths per site, default new-camera optics.
    site_spacing_m: float = Field(50.0, ge=5)
    site_azimuths: int = Field(8, ge=1, le=36)
    site_fov: float = Field(90.0, gt=0, le=360)
    site_range_m: float = Field(60.0, gt=0, le=500)
    site_height_m: float = Field(6.0, ge=0, le=50)
    site_tilt: float = Field(15.0, ge=0, le=90)
    site_time_limit_s: float = Field(30.0, gt=0, le=3600)

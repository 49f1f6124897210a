"""Coverage settings, read from ``ONEMAP_COVERAGE_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from geo.settings_base import concern

_DETAIL = "^(detect|observe|recognise|identify)$"


class CoverageSettings(BaseSettings):
    """How views are modelled and how figures, gaps and siting are computed."""

    model_config = concern("COVERAGE")

    # The view model (geo.coverage.optics, geo.coverage.viewshed).
    detail: str | None = Field(None, pattern=_DETAIL, description=(
        "IEC 62676-4 detail level (detect, observe, recognise, identify) that limits the "
        "range of cameras with a known resolution; unset → each camera's range_m only"))
    aspect: float = Field(16 / 9, gt=0.2, lt=5, description=(
        "image aspect ratio (width / height) giving the vertical field of view"))
    lens_fov: float = Field(60.0, gt=0, lt=180, description=(
        "lens angle in degrees assumed for dome and PTZ cameras (fov ≥ 180°)"))
    mount_tolerance_m: float = Field(0.0, ge=0, le=10, description=(
        "a footprint holding a camera, or this close to it (m), is the building the camera "
        "is mounted on and casts no shadow for it"))
    min_view_m2: float = Field(1.0, ge=0, description=(
        "views smaller than this (m²) count as nothing seen"))
    n_arc: int = Field(96, ge=8, le=720, description="segments per arc of a view sector")
    # A full refresh.
    workers: int = Field(2, ge=1, le=64, description=(
        "worker processes computing views in a full refresh"))
    batch: int = Field(1000, ge=10, description="cameras per batch of a full refresh")
    # Figures.
    window_days: int = Field(90, ge=1, le=3660, description=(
        "days of incidents counted as demand, ending at the newest incident unless a "
        "request says otherwise"))
    cell_res: int = Field(10, ge=6, le=13, description="H3 resolution of the grid-cell basis")
    cell_min_share: float = Field(0.5, gt=0, le=1, description=(
        "share of a cell's public ground that must be in view for the cell to count covered"))
    place_min_share: float = Field(0.25, gt=0, le=1, description=(
        "share of a key place's public ground (or apron) that must be in view for the place "
        "to count covered"))
    apron_m: float = Field(5.0, ge=0, le=100, description=(
        "a point place inside a building is seen through the ground within this many metres "
        "around the building (its entrances and forecourt)"))
    attach_m: float = Field(15.0, ge=0, le=200, description=(
        "incidents within this many metres of a building are its occupants' matters: gaps "
        "rank by the incidents out in the open"))
    # Gaps.
    gap_res: int = Field(10, ge=6, le=12, description=(
        "H3 resolution of the tessellation that finds coverage gaps"))
    gap_min_area_m2: float = Field(200.0, ge=0, description=(
        "gaps smaller than this (m²) are left out"))
    gap_area_weight: float = Field(1.0, ge=0, description=(
        "weight of one hectare of unseen public ground in a gap's priority (beside its "
        "incidents)"))
    # Siting of new cameras.
    site_spacing_m: float = Field(50.0, ge=5, description=(
        "spacing in metres of candidate sites along the roads"))
    site_azimuths: int = Field(8, ge=1, le=36, description=(
        "viewing directions tried per candidate site"))
    site_fov: float = Field(90.0, gt=0, le=360, description=(
        "horizontal field of view (degrees) of a proposed camera"))
    site_range_m: float = Field(60.0, gt=0, le=500, description=(
        "range in metres of a proposed camera"))
    site_height_m: float = Field(6.0, ge=0, le=50, description=(
        "mounting height in metres of a proposed camera"))
    site_tilt: float = Field(15.0, ge=0, le=90, description=(
        "tilt in degrees below the horizontal of a proposed camera"))
    site_time_limit_s: float = Field(30.0, gt=0, le=3600, description=(
        "seconds the exact siting solver (CBC) may run; its child process is killed a grace "
        "period later"))

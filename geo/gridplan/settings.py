"""Grid-planning settings (``ONEMAP_GRID_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from geo.settings_base import concern


class GridPlanSettings(BaseSettings):
    """The household band of a grid and the knobs of the redistricting.

    Examples
    --------
    >>> s = GridPlanSettings(_env_file=None, grid_target=300, grid_tolerance=0.15)
    >>> s.band
    (255.0, 345.0)
    """

    model_config = concern()

    grid_target: int = Field(300, ge=1, description="households a grid should hold")
    grid_tolerance: float = Field(0.15, gt=0, lt=1, description=(
        "relative band around grid_target that a grid's households may lie in"))
    grid_barrier_weight: float = Field(0.02, ge=0, le=1, description=(
        "share of its weight kept by an edge between buildings that crosses an arterial "
        "road or a river"))
    grid_barrier_tolerance_m: float = Field(15.0, ge=0, description=(
        "metres of arterial road or river inside a grid before the grid counts as crossing "
        "it"))
    grid_seed: int = Field(0, description=(
        "seed of the redistricting's random choices (same seed, same plan)"))
    grid_workers: int = Field(
        2, ge=1, le=64, description="worker processes redistricting communities (1: in-process)"
    )
    grid_parallel_min_buildings: int = Field(
        3_000, ge=0, description="fewest buildings in a redistricting for which workers are used"
    )

    @property
    def band(self) -> tuple[float, float]:
        """Lower and upper bound of households per grid."""
        return band(self.grid_target, self.grid_tolerance)


def band(target: float, tolerance: float) -> tuple[float, float]:
    """``(target·(1−tol), target·(1+tol))``, rounded to 1e-9 to absorb float noise."""
    return round(target * (1 - tolerance), 9), round(target * (1 + tolerance), 9)

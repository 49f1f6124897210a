"""Settings of the hotspot analyses (``ONEMAP_HOTSPOT_*``)."""

from __future__ import annotations

from pydantic import Field

from geo.settings import LocalTimeSettings
from geo.settings_base import concern


class HotspotSettings(LocalTimeSettings):
    """Defaults and limits of the hotspot analyses.

    ``alpha`` is the false-discovery rate of the middle (95 %) bin: bins ±3/±2/±1
    use FDR levels ``alpha/5``, ``alpha`` and ``2*alpha`` (0.01/0.05/0.10 by default).
    Week/month steps and dates given without a zone are in ``local_timezone``, the one
    zone setting (inherited from ``LocalTimeSettings``).
    """

    model_config = concern("HOTSPOT")

    res: int = Field(9, ge=6, le=12, description="default H3 resolution of the study cells")
    k: int = Field(1, ge=1, le=3, description="default neighbourhood of Gi*: the k-ring of "
                                              "each cell")
    alpha: float = Field(0.05, gt=0, le=0.2, description=(
        "false-discovery rate of the 95 % bin (the 99 % and 90 % bins use alpha/5 and "
        "2·alpha)"))
    min_incidents: int = Field(30, ge=1, description=(
        "fewest incidents a Gi* study needs; fewer is noise and the request is refused"))
    area_buffer_m: float = Field(500.0, ge=0, description=(
        "metres the incidents' extent is grown by to make the study area when no admin "
        "areas are loaded"))
    max_cells: int = Field(400_000, ge=100, description=(
        "most cells a study may hold; larger ones are refused (narrow with bbox or a "
        "coarser res)"))
    memory_rows: int = Field(5_000_000, ge=0, description=(
        "the incidents' columns are held in memory while the table has at most this many "
        "rows (else every count runs in SQL)"))
    max_stale_s: float = Field(5.0, ge=0, description=(
        "answers may read an incidents snapshot known current at most this many seconds ago "
        "while a newer one loads in the background (0: always wait for the newest)"))
    max_concurrent: int = Field(4, ge=1, description=(
        "hotspot computations running at once per server process (others queue)"))
    cache_entries: int = Field(64, ge=0, description="result cache entries kept per process")
    warm_up: bool = Field(True, description=(
        "at app start, load the incidents' columns, the study cells, weights and outlines of "
        "the default res in a background thread, so the first request does not pay for them "
        "(start and readiness never wait for it)"))
    emerging_alpha: float = Field(0.10, gt=0, le=0.2, description=(
        "emerging hot spots: bins significant at this FDR level count as hot/cold (ArcGIS "
        "counts any of 90/95/99 %)"))
    trend_alpha: float = Field(0.05, gt=0, le=0.2, description=(
        "emerging hot spots: significance level of the Mann–Kendall trend test"))
    time_window: int = Field(0, ge=0, le=12, description=(
        "previous time steps in the space-time neighbourhood: 0 = each step its own Gi* "
        "study; ≥ 1 = ArcGIS-style space-time Gi* over the whole cube"))

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

    @property
    def timezone(self) -> str:
        """The local time zone (``local_timezone``)."""
        return self.local_timezone

"""Synthetic incidents with planted clusters, shared by the hotspot test modules (no tests)."""

from __future__ import annotations

from datetime import UTC, datetime

import h3
from sqlalchemy import Engine, text

from geo.hotspots.synthetic import Cluster, copy_incidents, synthetic_incidents

START = datetime(2025, 1, 1, tzinfo=UTC)
# A cluster active all year and one that starts in the last three weeks.
STEADY = Cluster(118.040, 36.805, 120.0, 1500)
LATE = Cluster(118.065, 36.790, 100.0, 150, start_day=344, end_day=365)
STEADY_CELL9 = h3.latlng_to_cell(STEADY.lat, STEADY.lon, 9)


def load(engine: Engine, n_background: int = 12_000, seed: int = 7) -> int:
    """Empty the incidents table and load background plus the two clusters."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE incidents, admin_areas RESTART IDENTITY CASCADE"))
    df = synthetic_incidents(n_background, [STEADY, LATE], seed=seed, half_m=3000.0,
                             start=START)
    return copy_incidents(engine, df)

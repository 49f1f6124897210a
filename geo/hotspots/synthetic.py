"""Synthetic incidents for tests and benchmarks.

Uniform background plus planted Gaussian clusters, deterministic by seed,
bulk-loaded with one ``COPY``.

This is not the demo city (``geo.demo``); it exists so the statistics can be
checked on data whose truth is known exactly and so benchmarks can reach 10^6
rows in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
from sqlalchemy import Engine

from geo.h3cells import exact_cells
from geo.vocabulary import CATEGORIES, SOURCES

M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class Cluster:
    """A planted cluster: centre, spread (m), incidents, active days [start, end)."""

    lon: float
    lat: float
    sigma_m: float
    n: int
    start_day: int = 0
    end_day: int = 365


def synthetic_incidents(n_background: int, clusters: list[Cluster] = (), *, seed: int = 0,
                        centre: tuple[float, float] = (118.05, 36.80), half_m: float = 5_000.0,
                        start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
                        days: int = 365) -> pd.DataFrame:
    """Incidents as a DataFrame: lon, lat, occurred_at, category, source."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = centre
    kx = 1.0 / (M_PER_DEG * np.cos(np.radians(lat0)))
    ky = 1.0 / M_PER_DEG
    parts = [pd.DataFrame({
        "lon": lon0 + rng.uniform(-half_m, half_m, n_background) * kx,
        "lat": lat0 + rng.uniform(-half_m, half_m, n_background) * ky,
        "day": rng.uniform(0, days, n_background)})]
    for c in clusters:
        parts.append(pd.DataFrame({
            "lon": c.lon + rng.normal(0, c.sigma_m, c.n) * kx,
            "lat": c.lat + rng.normal(0, c.sigma_m, c.n) * ky,
            "day": rng.uniform(c.start_day, c.end_day, c.n)}))
    df = pd.concat(parts, ignore_index=True)
    df["occurred_at"] = pd.Timestamp(start) + pd.to_timedelta(df.pop("day"), unit="D")
    df["category"] = rng.choice(CATEGORIES, len(df))
    df["source"] = rng.choice(SOURCES, len(df))
    return df


def copy_incidents(engine: Engine, df: pd.DataFrame, res: int = 12, prefix: str = "syn") -> int:
    """Insert incidents with one ``COPY`` (H3 at ``res`` and the exact cells computed here)."""
    df = df.assign(lon=df.lon.round(7), lat=df.lat.round(7))  # as written below
    cells = [h3i.latlng_to_cell(lat, lon, res) for lon, lat in zip(df.lon, df.lat, strict=True)]
    exact = exact_cells(df.lon.to_numpy(), df.lat.to_numpy())
    columns = ", ".join(exact)
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        with pg.transaction(), pg.cursor() as cur:
            cur.execute("SET LOCAL statement_timeout = 0")
            base = int(cur.execute("SELECT coalesce(max(id), 0) FROM incidents").fetchone()[0])
            with cur.copy("COPY incidents (external_id, source, category, occurred_at, h3, "
                          f"{columns}, geom) FROM STDIN") as copy:
                for i, (lon, lat, t, cat, src, cell, *more) in enumerate(zip(
                        df.lon, df.lat, df.occurred_at, df.category, df.source, cells,
                        *(c.tolist() for c in exact.values()), strict=True)):
                    copy.write_row((f"{prefix}-{base + i}", src, cat, t, cell, *more,
                                    f"SRID=4326;POINT({lon:.7f} {lat:.7f})"))
    finally:
        raw.close()
    return len(df)

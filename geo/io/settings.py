"""Settings for import and export (``ONEMAP_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from geo.settings import LocalTimeSettings


class IngestSettings(LocalTimeSettings):
    """How files and HTTP bodies are loaded.

    Parameters
    ----------
    local_timezone : str
        Zone given to times written without an offset (``2024-05-01 08:30``); the one
        zone setting of the service (``LocalTimeSettings``).
    progress_min_rows : int
        Files with more rows than this show a progress bar.
    copy_chunk_rows : int
        Rows per COPY chunk (the progress bar advances per chunk).
    future_tolerance_s : float
        How far in the future an ``occurred_at`` may lie (clock skew).
    bulk_min_rows : int
        Incident batches this large lock the table against other writers and
        skip existing rows by an anti-join instead of ``ON CONFLICT``.
    """

    model_config = SettingsConfigDict(env_prefix="ONEMAP_", extra="ignore")

    progress_min_rows: int = Field(10_000, ge=0)
    copy_chunk_rows: int = Field(100_000, ge=1_000)
    future_tolerance_s: float = Field(86_400.0, ge=0)
    bulk_min_rows: int = Field(50_000, ge=1)

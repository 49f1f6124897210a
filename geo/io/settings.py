"""Settings for import and export (``ONEMAP_INGEST_*``, and ``ONEMAP_LOCAL_TIMEZONE``)."""

from __future__ import annotations

from pydantic import Field

from geo.settings import LocalTimeSettings
from geo.settings_base import concern


class IngestSettings(LocalTimeSettings):
    """How files and HTTP bodies are loaded.

    Times written without an offset (``2024-05-01 08:30``) are in ``local_timezone``,
    the one zone setting of the service (inherited from ``LocalTimeSettings``).
    """

    model_config = concern("INGEST")

    progress_min_rows: int = Field(
        10_000, ge=0, description="files with more rows than this show a progress bar")
    copy_chunk_rows: int = Field(
        100_000, ge=1_000, description="rows per COPY chunk (the progress bar advances per "
                                       "chunk)")
    future_tolerance_s: float = Field(
        86_400.0, ge=0, description="seconds an occurred_at may lie in the future (clock "
                                    "skew) before the row is rejected")
    bulk_min_rows: int = Field(
        50_000, ge=1, description="incident batches this large lock the table against other "
                                  "writers and skip existing rows by an anti-join instead of "
                                  "ON CONFLICT")

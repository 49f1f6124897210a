"""Answers of the camera routes."""

from __future__ import annotations

from pydantic import Field

from api.models.geojson import FeatureCollection


class CameraCollection(FeatureCollection):
    """Cameras, one Feature each (properties: code, class, kind, optics, status, view)."""

    numberMatched: int = Field(description="cameras matching the filters")  # noqa: N815
    numberReturned: int = Field(description="features in this page")  # noqa: N815

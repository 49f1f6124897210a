"""TileJSON documents."""

from __future__ import annotations

from pydantic import Field

from api.models.base import Answer


class VectorLayer(Answer):
    """One layer of the tiles."""

    id: str
    description: str | None = None
    minzoom: int
    maxzoom: int
    fields: dict[str, str] = Field(description="property name → String, Number or Boolean")


class TileJson(Answer):
    """TileJSON 3.0.0 of one or more layers."""

    tilejson: str
    name: str | None = None
    description: str | None = None
    version: str | None = None
    attribution: str | None = None
    scheme: str | None = None
    tiles: list[str] = Field(description="tile URL templates")
    minzoom: int
    maxzoom: int
    bounds: list[float]
    center: list[float] = Field(description="lon, lat, zoom")
    vector_layers: list[VectorLayer]

"""GeoJSON objects (RFC 7946), generic: properties are an object of any keys."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.models.base import Answer


class Geometry(Answer):
    """A GeoJSON geometry (``coordinates``, or ``geometries`` for a collection)."""

    type: str = Field(description="Point, LineString, Polygon, Multi…, GeometryCollection")
    coordinates: Any = Field(None, description="positions as [lon, lat] (WGS 84)")


class Feature(Answer):
    """A GeoJSON Feature."""

    type: Literal["Feature"]
    id: int | str | None = Field(None, description="feature id, when it has one")
    geometry: Geometry | None = Field(description="WGS 84 geometry (null when none)")
    properties: dict[str, Any] | None = Field(description="the feature's fields")


class FeatureCollection(Answer):
    """A GeoJSON FeatureCollection (routes may add members, named by their model)."""

    type: Literal["FeatureCollection"]
    features: list[Feature]

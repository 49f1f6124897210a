"""Documents of OGC API Features Part 1 (``/ogc``)."""

from __future__ import annotations

from pydantic import Field

from api.models.base import Answer
from api.models.geojson import Feature, FeatureCollection


class Link(Answer):
    """A link to a related document."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class Landing(Answer):
    """The landing page."""

    title: str
    description: str
    links: list[Link]


class Conformance(Answer):
    """The conformance classes implemented."""

    conformsTo: list[str]  # noqa: N815


class SpatialExtent(Answer):
    """Bounding boxes, lon/lat (CRS84)."""

    bbox: list[list[float]]
    crs: str | None = None


class TemporalExtent(Answer):
    """Time intervals (ISO 8601; null for an open end)."""

    interval: list[list[str | None]]
    trs: str | None = None


class Extent(Answer):
    """Where and when the collection's features are."""

    spatial: SpatialExtent
    temporal: TemporalExtent | None = None


class Collection(Answer):
    """One collection."""

    id: str
    title: str
    description: str | None = None
    itemType: str = Field(description="feature")  # noqa: N815
    crs: list[str]
    extent: Extent
    links: list[Link]


class Collections(Answer):
    """Every collection."""

    collections: list[Collection]
    links: list[Link]


class Items(FeatureCollection):
    """One page of a collection's features."""

    numberMatched: int  # noqa: N815
    numberReturned: int  # noqa: N815
    timeStamp: str  # noqa: N815
    links: list[Link]


class Item(Feature):
    """One feature with its links."""

    links: list[Link]


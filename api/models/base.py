"""The base of every answer model and the helper that documents an answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

GEOJSON = "application/geo+json"


class Answer(BaseModel):
    """A JSON object answered by the service.

    The named fields are always there; an answer may carry more keys than named
    (``additionalProperties``), so a model documents without constraining growth.
    """

    model_config = ConfigDict(extra="allow")


def documented(model: type[BaseModel], description: str = "Successful Response",
               status: int = 200, geojson: bool = False) -> dict[int, dict[str, Any]]:
    """``responses=`` naming ``model`` as the body of ``status`` without validating it.

    For routes that send their own ``Response`` (orjson bytes, GeoJSON media type):
    the schema is documented and schemathesis checks bodies against it, while the
    hot path does not build the answer twice. ``geojson`` also names the model
    under ``application/geo+json`` (the type such routes send).
    """
    out: dict[str, Any] = {"model": model, "description": description}
    if geojson:
        ref = {"$ref": f"#/components/schemas/{model.__name__}"}
        out["content"] = {GEOJSON: {"schema": ref}}
    return {status: out}

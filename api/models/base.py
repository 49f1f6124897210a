"""The base of every answer model and the helper that documents an answer."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    SkipValidation,
    model_serializer,
    model_validator,
)

GEOJSON = "application/geo+json"

#: Rows of a large answer (one object per grid, unit, …): documented as a list of
#: objects but not copied one by one when the answer is validated.
Rows = Annotated[list[dict[str, Any]], SkipValidation]


class Answer(BaseModel):
    """A JSON object answered by the service.

    The named fields are always there; an answer may carry more keys than named
    (``additionalProperties``), so a model documents without constraining growth.

    Validating an answer changes nothing in its JSON: keys keep the order the domain
    gave them (extra keys included), and with ``response_model_exclude_unset`` a key
    the domain left out stays out. Numbers that may be whole are typed ``int | float``
    (a ``float`` field would write ``1`` as ``1.0``).
    """

    model_config = ConfigDict(extra="allow")
    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, value: Any, handler):
        model = handler(value)
        if isinstance(value, dict):
            model._order = tuple(value)
        return model

    @model_serializer(mode="wrap")
    def _in_order(self, handler):
        out = handler(self)
        if not self._order or not isinstance(out, dict):
            return out
        ordered = {k: out[k] for k in self._order if k in out}
        ordered.update((k, v) for k, v in out.items() if k not in ordered)
        return ordered


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

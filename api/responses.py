"""The JSON response class of the API: orjson, numpy values and non-string keys allowed.

FastAPI's own ``ORJSONResponse`` is deprecated; this is the same few lines, owned here.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse, Response


class OrjsonResponse(JSONResponse):
    """``application/json`` rendered by orjson."""

    def render(self, content: Any) -> bytes:  # noqa: D102
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def json_body(body: Any, media_type: str = "application/json") -> Response:
    """``body`` rendered by orjson (numpy values allowed) as ``media_type``.

    For routes that answer JSON of their own media type (GeoJSON) or skip FastAPI's
    response validation on large bodies.
    """
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type=media_type)

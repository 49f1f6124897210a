"""The JSON response class of the API: orjson, numpy values and non-string keys allowed.

FastAPI's own ``ORJSONResponse`` is deprecated; this is the same few lines, owned here.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """``application/json`` rendered by orjson."""

    def render(self, content: Any) -> bytes:  # noqa: D102
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)

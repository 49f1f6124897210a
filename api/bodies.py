"""Request bodies decoded off the event loop.

Decoding a large body (an 18 MB polygon: about 1.5 s in ``orjson.loads`` alone) holds
the GIL the whole time, so even a worker thread would stall every other request,
``/healthz`` included. :class:`BodyDecoder` decodes bodies up to
``ONEMAP_API_BODY_PROCESS_ABOVE_BYTES`` in a worker thread and larger ones in a worker
process (one per app, started on first use, ended with the app).

Routes whose JSON body is small by nature (a camera) read it through
:data:`SmallJsonObject` (larger → 413); routes taking large bodies (incidents, a
departmental layer) call :meth:`BodyDecoder.run` with a module-level function that
decodes *and* checks the body, returning something cheap to send back (a frame).
Both are documented with :func:`json_body_doc`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from geo.errors import InvalidInput
from geo.geojson_checks import parse_json


class BodyDecoder:
    """Runs ``fn(body, ...)`` in a thread for small bodies, in a process for large ones.

    ``fn`` must be a module-level function (it is pickled to the worker process).
    """

    def __init__(self, process_above: int):
        self.process_above = process_above
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("forkserver"))
            return self._pool

    async def run(self, fn: Callable, body: bytes, *args) -> Any:
        """``fn(body, *args)`` without holding up the event loop."""
        if len(body) <= self.process_above:
            return await run_in_threadpool(fn, body, *args)
        # Submitting may start the worker process (and the forkserver), which blocks
        # until it has forked: do that in a thread too.
        future = await run_in_threadpool(lambda: self._executor().submit(fn, body, *args))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """End the worker process (if one was started)."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


def decode_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object (InvalidInput otherwise)."""
    value = parse_json(body)
    if not isinstance(value, dict):
        raise InvalidInput("request body must be a JSON object")
    return value


SMALL_BODY_BYTES = 64 * 1024


async def small_json_object(request: Request) -> dict[str, Any]:
    """A small body (at most ``SMALL_BODY_BYTES``, else 413) as a JSON object."""
    body = await request.body()
    if len(body) > SMALL_BODY_BYTES:
        raise HTTPException(413, f"this request body is at most {SMALL_BODY_BYTES:,} bytes, "
                                 f"got {len(body):,}")
    return await run_in_threadpool(decode_object, body)


SmallJsonObject = Annotated[dict[str, Any], Depends(small_json_object)]


def json_body_doc(description: str, media_types: tuple[str, ...] = ("application/json",)
                  ) -> dict:
    """``openapi_extra`` documenting a required JSON-object body."""
    schema = {"type": "object", "description": description}
    return {"requestBody": {"required": True,
                            "content": {m: {"schema": schema} for m in media_types}}}

"""Input limits as pure ASGI middleware: body size (413), rates (429).

Two rates, both answered with 429 and ``Retry-After`` in whole seconds:

* :class:`RequestBudget` (inside authentication) counts requests per *authenticated*
  key, and per client address for callers without one. A key's budget is spent only
  by requests that proved they hold its secret.
* :class:`FailureLimit` (outside authentication) counts failed authentications (401)
  per client address; past ``ONEMAP_API_AUTH_FAILURES_PER_MINUTE`` that address is
  answered 429 before any key is looked up, whatever key id it claims.
Neither buffers the body: the size limit trusts a declared ``Content-Length``
when there is one and otherwise counts bytes as the app reads them, stopping
the request as soon as the limit is passed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Probes and the schema never count against a caller's budget.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})


async def send_error(send: Send, status: int, detail: str, code: str,
                     headers: dict[str, str] | None = None) -> None:
    """Send the one error shape ``{"detail","code"}`` from ASGI middleware."""
    body = orjson.dumps({"detail": detail, "code": code})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (``name`` in lower case)."""
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return None


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body larger than {limit} bytes")


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413 ``body_too_large``.

    Parameters
    ----------
    app : ASGI app
    max_bytes : int
        Largest accepted body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: D102
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return await send_error(send, 400, "Content-Length is not a number", "bad_request")
            if int(declared) > self.max_bytes:
                return await send_error(send, 413, self._detail(), "body_too_large")
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await send_error(send, 413, self._detail(), "body_too_large")

    def _detail(self) -> str:
        return f"request body larger than {self.max_bytes} bytes (ONEMAP_API_MAX_BODY_BYTES)"


class TokenBucket:
    """``rate_per_minute`` requests per minute per caller, bursts up to a minute's worth.

    Parameters
    ----------
    rate_per_minute : int
        Sustained requests per minute; also the bucket size.
    max_callers : int
        Buckets kept in memory; full (idle) buckets are dropped beyond this.

    Examples
    --------
    >>> b = TokenBucket(2)
    >>> b.take("k", now=0.0), b.take("k", now=0.0), b.take("k", now=0.0)
    (0.0, 0.0, 30.0)
    """

    def __init__(self, rate_per_minute: int, max_callers: int = 10_000):
        self.capacity = float(rate_per_minute)
        self.per_second = rate_per_minute / 60.0
        self.max_callers = max_callers
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, caller: str, now: float | None = None) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is free."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.per_second)
        if tokens >= 1.0:
            self._buckets[caller] = (tokens - 1.0, now)
            self._prune(now)
            return 0.0
        self._buckets[caller] = (tokens, now)
        return (1.0 - tokens) / self.per_second

    def wait(self, caller: str, now: float | None = None) -> float:
        """Seconds until ``caller`` has a token (0.0: now), taking nothing."""
        now = time.monotonic() if now is None else now
        found = self._buckets.get(caller)
        if found is None:
            return 0.0
        tokens = min(self.capacity, found[0] + (now - found[1]) * self.per_second)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.per_second

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= self.max_callers:
            return
        full = [k for k, (t, last) in self._buckets.items()
                if t + (now - last) * self.per_second >= self.capacity]
        for k in full:
            del self._buckets[k]


def client_of(scope: Scope) -> str:
    """The client address of a request (``ip:…``)."""
    client = scope.get("client") or ("unknown", 0)
    return f"ip:{client[0]}"


def caller_of(scope: Scope) -> str:
    """Whom to count a request against: the key it authenticated with, else its address.

    Runs after authentication (``scope["state"]["actor"]`` is ``key:<id> …`` for a
    verified key); a claimed but unverified key id counts for nothing.
    """
    actor = str(scope.get("state", {}).get("actor", ""))
    if actor.startswith("key:"):
        return actor.split(" ", 1)[0]
    return client_of(scope)


def _too_many(send: Send, detail: str, wait: float) -> Awaitable[None]:
    retry = str(max(1, math.ceil(wait)))
    return send_error(send, 429, f"{detail}; retry in {retry} s", "rate_limited",
                      {"Retry-After": retry})


class RequestBudget:
    """429 ``rate_limited`` past the caller's budget (install inside authentication)."""

    def __init__(self, app: ASGIApp, rate_per_minute: int):
        self.app = app
        self.bucket = TokenBucket(rate_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: D102
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            return await self.app(scope, receive, send)
        wait = self.bucket.take(caller_of(scope))
        if wait > 0:
            return await _too_many(
                send, f"rate limit of {int(self.bucket.capacity)} requests per minute exceeded",
                wait)
        await self.app(scope, receive, send)


class FailureLimit:
    """429 for a client address past its failed authentications (install outside auth).

    Every 401 answered to an address takes a token from its bucket; an address with
    none left is refused before its key is looked up, so guessing secrets (or forging
    key ids) is slowed per address and never touches a real key's budget.
    """

    def __init__(self, app: ASGIApp, failures_per_minute: int):
        self.app = app
        self.bucket = TokenBucket(failures_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: D102
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            return await self.app(scope, receive, send)
        client = client_of(scope)
        wait = self.bucket.wait(client)
        if wait > 0:
            return await _too_many(
                send, f"too many failed authentications from this address (limit "
                f"{int(self.bucket.capacity)} per minute, "
                "ONEMAP_API_AUTH_FAILURES_PER_MINUTE)", wait)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.bucket.take(client)
            await send(message)

        await self.app(scope, receive, counting_send)

"""Who is calling and what they may do.

Contract other modules rely on: ``current_role(request)`` returns one of
``admin``, ``planner``, ``viewer``, ``widget``; ``current_actor(request)``
names the caller for audit logs. Both are set on every request by
:class:`AuthMiddleware` from the ``Authorization: Bearer om_…`` header.

Modes
-----
*Open*: the app is bound to loopback (``ONEMAP_API_HOST``, default 127.0.0.1), no
active key exists and the client is local → every request is ``admin`` with
actor ``local``. *Keys*: as soon as one active key exists, or the app is bound
beyond loopback, every non-public route needs a valid key (401 without one).
Key existence is cached for at most :data:`ACTIVE_KEYS_TTL_S`; a presented key
is checked against the database on every request, so a revocation takes effect
at once.

The access policy (:mod:`api.policy`) names the roles of every route;
routes without a rule are refused (403).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from urllib.parse import parse_qs

from fastapi import Request
from starlette.routing import compile_path

from api.limits import ASGIApp, Receive, Scope, Send, header, send_error
from api.policy import Rule, rule_for
from api.secrets import redact_query
from api.startup import is_loopback, refusal
from geo import audit
from geo.errors import DatabaseUnavailable
from geo.keys import ROLES, ApiKey, has_active_keys_async, verify_key_async

try:
    from starlette._utils import get_route_path
except ImportError:  # pragma: no cover - older Starlette
    def get_route_path(scope: Scope) -> str:  # noqa: D103
        return scope.get("path", "")

__all__ = ["ROLES", "AuthMiddleware", "current_actor", "current_role"]

log = logging.getLogger("onemap.auth")

ACTIVE_KEYS_TTL_S = 1.0
DB_TIMEOUT_S = 5.0
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MATCH_MEMORY = 8192  # (method, path) → route answers remembered by the auth middleware


def current_role(request: Request) -> str:
    """The caller's role; open local mode is ``admin``."""
    return getattr(request.state, "role", "admin")


def current_actor(request: Request) -> str:
    """A name for audit logs."""
    return getattr(request.state, "actor", "local")


class Unavailable(Exception):
    """The database could not answer an auth question in time."""


def route_table(routes) -> list[tuple[re.Pattern, frozenset[str] | None, str]]:
    """Every route of the app, flattened: (path regex, methods or None, path template).

    FastAPI nests included routers; :func:`fastapi.routing.iter_route_contexts`
    flattens them where it exists (older versions keep ``app.routes`` flat).
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI
        contexts = routes
    else:
        contexts = iter_route_contexts(routes)
    table = []
    for rc in contexts:
        template = getattr(rc, "path_format", None) or rc.path
        regex = getattr(rc, "path_regex", None) or compile_path(template)[0]
        methods = getattr(rc, "methods", None)
        table.append((regex, frozenset(methods) if methods else None, template))
    return table


def presented_key(scope: Scope) -> str | None:
    """The key from ``Authorization: Bearer``; GET/HEAD may use ``?access_token=``."""
    auth = header(scope, b"authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else auth
    query = scope.get("query_string", b"")
    if scope.get("method") in ("GET", "HEAD") and b"access_token=" in query:
        values = parse_qs(query.decode("latin-1")).get("access_token")
        return values[0] if values else None
    return None


class AuthMiddleware:
    """Authenticate, authorise by policy, mark responses private, audit writes and exports.

    Parameters
    ----------
    app : ASGI app
        The wrapped app.
    state : api.state.AppState
        Settings and the asyncpg pool.
    router : starlette Router
        Routes to match requests against (read on each request, so late routes count).
    """

    def __init__(self, app: ASGIApp, state, router):
        self.app = app
        self.state = state
        self.router = router
        self._active: tuple[bool, float] | None = None
        self._table: tuple[int, list] | None = None
        self._matches: dict[tuple[str, str], tuple[str, dict] | None] = {}
        self._active_lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: D102
        if scope["type"] == "lifespan":
            return await self._lifespan(scope, receive, send)
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        found = self._match(scope)
        if found is None:  # 404 / 405: the router answers
            return await self.app(scope, receive, send)
        template, params = found
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        rule = rule_for(method, template)
        if rule is None:
            return await send_error(send, 403, f"no access policy for {method} {template}",
                                    "forbidden")
        if rule.public:
            _set_caller(scope, "widget", "anonymous")
            return await self.app(scope, receive, send)
        token = presented_key(scope)
        try:
            caller = await self._caller(scope, token)
        except Unavailable:
            return await send_error(send, 503, "database unavailable, retry later",
                                    "database_unavailable", {"Retry-After": "5"})
        if caller is None:
            detail = ("invalid or revoked API key" if token else
                      "missing API key: send Authorization: Bearer <key>")
            return await send_error(send, 401, detail, "unauthorized",
                                    {"WWW-Authenticate": 'Bearer realm="onemap"'})
        role, actor = caller
        denied = rule.denies(role, params, self.state.widget)
        if denied:
            return await send_error(send, 403, denied, "forbidden")
        _set_caller(scope, role, actor)
        await self._run(scope, receive, send, rule, template, private=token is not None)

    # -- who is calling ---------------------------------------------------------------------

    def _open_candidate(self, scope: Scope) -> bool:
        """Bound to loopback and the client is local (a non-IP test client counts as local)."""
        if not is_loopback(self.state.api.host):
            return False
        client = (scope.get("client") or ("", 0))[0]
        return is_loopback(client) or not _is_ip(client)

    async def _caller(self, scope: Scope, token: str | None) -> tuple[str, str] | None:
        if token:
            key = await self._db(verify_key_async, token)
            return None if key is None else (key.role, _actor(key))
        if self._open_candidate(scope) and not await self._keys_exist():
            return "admin", "local"
        return None

    async def _keys_exist(self) -> bool:
        now = time.monotonic()
        if self._active and now - self._active[1] < ACTIVE_KEYS_TTL_S:
            return self._active[0]
        async with self._active_lock:
            if self._active and time.monotonic() - self._active[1] < ACTIVE_KEYS_TTL_S:
                return self._active[0]
            value = await self._db(has_active_keys_async)
            self._active = (value, time.monotonic())
            return value

    async def _db(self, fn, *args):
        """Run an auth query with a hard time limit; any database trouble → Unavailable."""
        try:
            return await asyncio.wait_for(self._query(fn, *args), DB_TIMEOUT_S)
        except (TimeoutError, OSError, DatabaseUnavailable) as exc:
            raise Unavailable(str(exc)) from exc
        except Exception as exc:  # asyncpg errors share no useful base with OSError
            if type(exc).__module__.startswith("asyncpg"):
                raise Unavailable(str(exc)) from exc
            raise

    async def _query(self, fn, *args):
        pool = await self.state.pool()
        return await fn(pool, *args)

    def _match(self, scope: Scope) -> tuple[str, dict] | None:
        """The template and path parameters of the route that will serve ``scope``.

        Answers are remembered per (method, path), up to :data:`MATCH_MEMORY` of them, so
        a map panning over cached tiles does not walk the route table on every request.
        """
        routes = self.router.routes
        if self._table is None or self._table[0] != len(routes):
            self._table = (len(routes), route_table(routes))
            self._matches.clear()
        key = (scope["method"], get_route_path(scope))
        if key in self._matches:
            return self._matches[key]
        found = self._walk(*key)
        if len(self._matches) >= MATCH_MEMORY:
            self._matches.clear()
        self._matches[key] = found
        return found

    def _walk(self, method: str, path: str) -> tuple[str, dict] | None:
        for regex, methods, template in self._table[1]:
            m = regex.match(path)
            if m and (methods is None or method in methods
                      or (method == "HEAD" and "GET" in methods)):
                return template, m.groupdict()
        return None

    # -- the response -----------------------------------------------------------------------

    async def _run(self, scope: Scope, receive: Receive, send: Send, rule: Rule,
                   template: str, private: bool) -> None:
        status = 0

        async def wrapped_send(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if private:
                    message["headers"] = _private_headers(message.get("headers", []))
            await send(message)

        await self.app(scope, receive, wrapped_send)
        method = scope["method"]
        if 200 <= status < 300 and (method in WRITE_METHODS or rule.export):
            await self._audit(scope, method, template, status)

    async def _audit(self, scope: Scope, method: str, template: str, status: int) -> None:
        st = scope["state"]
        action = ("export " if method not in WRITE_METHODS else "") + f"{method} {template}"
        detail = {"status": status, "role": st["role"],
                  "query": redact_query(scope.get("query_string", b"").decode("latin-1"))[:500]}
        try:
            await self._db(audit.record_async, st["actor"], action, scope["path"], detail)
        except Unavailable as exc:
            log.warning("audit entry lost (%s): %s %s by %s", exc, action, scope["path"],
                        st["actor"])

    # -- start-up ---------------------------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse to start bound beyond loopback when no key exists."""
        problem: str | None = None

        async def checked_receive():
            nonlocal problem
            message = await receive()
            if message["type"] == "lifespan.startup":
                problem = await self._startup_problem()
                if problem:
                    await send({"type": "lifespan.startup.failed", "message": problem})
                    raise StartupRefused(problem)
            return message

        await self.app(scope, checked_receive, send)

    async def _startup_problem(self) -> str | None:
        host = self.state.api.host
        if is_loopback(host):
            return None
        try:
            if await self._db(has_active_keys_async):
                return None
        except Unavailable:
            log.warning("cannot check API keys at start-up (database unavailable); every "
                        "request to %s will need a key", host)
            return None
        return refusal(host)


class StartupRefused(RuntimeError):
    """The app may not listen where it is bound."""


def _actor(key: ApiKey) -> str:
    return f"key:{key.key_id}" + (f" ({key.name})" if key.name else "")


def _set_caller(scope: Scope, role: str, actor: str) -> None:
    st = scope.setdefault("state", {})
    st["role"] = role
    st["actor"] = actor


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _private_headers(headers) -> list[tuple[bytes, bytes]]:
    """Cache-Control made private (never public) and Vary on Authorization."""
    out, seen_cc, vary = [], False, None
    for k, v in headers:
        lk = k.lower()
        if lk == b"cache-control":
            seen_cc = True
            parts = [p.strip() for p in v.decode("latin-1").split(",") if p.strip()]
            parts = [p for p in parts if p.lower() not in ("public", "private")]
            v = ", ".join(["private", *parts]).encode()
        elif lk == b"vary":
            vary = v
            continue
        out.append((k, v))
    if not seen_cc:
        out.append((b"cache-control", b"private"))
    vary_vals = [p.strip() for p in (vary or b"").decode("latin-1").split(",") if p.strip()]
    if "authorization" not in (p.lower() for p in vary_vals):
        vary_vals.append("Authorization")
    out.append((b"vary", ", ".join(vary_vals).encode()))
    return out


def install(app, state) -> None:
    """Add the security middleware: request budget, auth, body size, failure limit.

    Innermost first. The budget sits inside authentication so that it counts verified keys only; the
    failure limit sits outside so that a flood of bad keys is refused before any
    database lookup. Call before CORS/GZip are added so that 401/413/429 answers
    still carry CORS headers.
    """
    from api.limits import BodySizeLimit, FailureLimit, RequestBudget

    app.add_middleware(RequestBudget, rate_per_minute=state.api.rate_limit_per_minute)
    app.add_middleware(AuthMiddleware, state=state, router=app.router)
    app.add_middleware(BodySizeLimit, max_bytes=state.api.max_body_bytes)
    app.add_middleware(FailureLimit, failures_per_minute=state.api.auth_failures_per_minute)

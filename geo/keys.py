"""API keys: create, verify, list, revoke (table ``api_keys``).

A key reads ``om_<key_id>_<secret>``: ``key_id`` (12 hex digits) is public and
names the key in lists and audit logs; ``secret`` is 32 random bytes
(URL-safe base64). Only the SHA-256 of the secret is stored; since secrets are
random and long, a fast hash is enough (no dictionary to attack), and the
comparison runs in constant time. The full key is shown once, at creation.

Examples
--------
>>> parse_key("om_0123456789ab_s3cret-s3cret-s3cret")
('0123456789ab', 's3cret-s3cret-s3cret')
>>> parse_key("Bearer nonsense") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, text

from geo.errors import InvalidInput, NotFound
from geo.vocabulary import ROLES

PREFIX = "om"
_KEY_RE = re.compile(r"^om_([0-9a-f]{12})_([A-Za-z0-9_-]{16,128})$")
_KEY_ID_RE = re.compile(r"^[0-9a-f]{12}$")
# A key anywhere in a text (a log line, a URL): its secret part is what must not be kept.
_KEY_IN_TEXT = re.compile(r"\b(om_[0-9a-f]{12}_)[A-Za-z0-9_-]{16,128}")
REDACTED = "[redacted]"


@dataclass(frozen=True)
class ApiKey:
    """One stored key (never the secret)."""

    key_id: str
    name: str | None
    role: str
    created_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """True until revoked."""
        return self.revoked_at is None


def parse_key(token: str) -> tuple[str, str] | None:
    """Split ``om_<key_id>_<secret>`` into its parts; None when it is not a key."""
    m = _KEY_RE.match(token.strip())
    return (m.group(1), m.group(2)) if m else None


def redact(text: str) -> str:
    """``text`` with the secret part of every key in it replaced (the key id stays).

    >>> redact("GET /map?access_token=om_0123456789ab_s3cret-s3cret-s3cret HTTP/1.1")
    'GET /map?access_token=om_0123456789ab_[redacted] HTTP/1.1'
    """
    return _KEY_IN_TEXT.sub(lambda m: m.group(1) + REDACTED, text)


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a key's secret part."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, key_hash: str) -> bool:
    """Constant-time comparison of a secret with a stored hash."""
    return hmac.compare_digest(hash_secret(secret), key_hash)


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


def create_key(engine: Engine, role: str, name: str | None = None) -> tuple[ApiKey, str]:
    """Store a new key; return it and the full key text (shown to the user once)."""
    _check_role(role)
    if name is not None and len(name) > 200:
        raise InvalidInput("key name longer than 200 characters")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "INSERT INTO api_keys (key_id, name, role, key_hash) "
                "VALUES (:key_id, :name, :role, :key_hash) RETURNING created_at"
            ),
            {"key_id": key_id, "name": name, "role": role, "key_hash": hash_secret(secret)},
        ).one()
    return ApiKey(key_id, name, role, row.created_at), f"{PREFIX}_{key_id}_{secret}"


def list_keys(engine: Engine, include_revoked: bool = True) -> list[ApiKey]:
    """Every key, oldest first."""
    sql = "SELECT key_id, name, role, created_at, revoked_at FROM api_keys"
    if not include_revoked:
        sql += " WHERE revoked_at IS NULL"
    with engine.connect() as conn:
        rows = conn.execute(text(sql + " ORDER BY created_at, id")).all()
    return [ApiKey(r.key_id, r.name, r.role, r.created_at, r.revoked_at) for r in rows]


def revoke_key(engine: Engine, key_id: str) -> ApiKey:
    """Revoke a key now (idempotent for a key already revoked)."""
    if not _KEY_ID_RE.match(key_id):
        raise InvalidInput(f"{key_id!r} is not a key id (12 hex digits, see `onemap keys list`)")
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                "WHERE key_id = :key_id RETURNING key_id, name, role, created_at, revoked_at"
            ),
            {"key_id": key_id},
        ).one_or_none()
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    return ApiKey(row.key_id, row.name, row.role, row.created_at, row.revoked_at)


def has_active_keys(engine: Engine) -> bool:
    """True when at least one key is not revoked."""
    with engine.connect() as conn:
        return bool(
            conn.execute(text("SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)"))
            .scalar()
        )


def verify_key(engine: Engine, token: str) -> ApiKey | None:
    """The active key matching ``token``, or None (unknown, wrong secret, revoked)."""
    parts = parse_key(token)
    if parts is None:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT key_id, name, role, key_hash, revoked_at FROM api_keys WHERE key_id = :k"),
            {"k": parts[0]},
        ).one_or_none()
    return _accept(row, parts[1])


def _accept(row, secret: str) -> ApiKey | None:
    """Check a fetched row against the presented secret."""
    if row is None:
        secret_matches(secret, "0" * 64)  # same work whether or not the id exists
        return None
    if not secret_matches(secret, row.key_hash) or row.revoked_at is not None:
        return None
    return ApiKey(row.key_id, row.name, row.role, None, None)


# SQL the HTTP layer runs through asyncpg (same checks, async driver).
VERIFY_SQL = "SELECT key_id, name, role, key_hash, revoked_at FROM api_keys WHERE key_id = $1"
ACTIVE_SQL = "SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)"


async def verify_key_async(pool, token: str) -> ApiKey | None:
    """:func:`verify_key` over an asyncpg pool (one indexed lookup per call)."""
    parts = parse_key(token)
    if parts is None:
        return None
    row = await pool.fetchrow(VERIFY_SQL, parts[0])
    return _accept(_Row(row) if row is not None else None, parts[1])


async def has_active_keys_async(pool) -> bool:
    """:func:`has_active_keys` over an asyncpg pool."""
    return bool(await pool.fetchval(ACTIVE_SQL))


class _Row:
    """Attribute access over an asyncpg Record."""

    def __init__(self, record):
        self._r = record

    def __getattr__(self, name: str):
        return self._r[name]

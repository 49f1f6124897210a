"""API keys in the domain and on the command line, and the start-up refusal."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from api.startup import RefuseToListen, check_can_listen, is_loopback
from geo import keys
from geo.errors import InvalidInput, NotFound

ONEMAP = [sys.executable, "-m", "api.cli"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ONEMAP, *args], capture_output=True, text=True, env=env, timeout=120)


def test_keys_are_stored_hashed_and_verified(empty_db):
    key, secret = keys.create_key(empty_db, "viewer", "wall screen")
    assert secret.startswith(f"om_{key.key_id}_")
    with empty_db.connect() as conn:
        row = conn.execute(text("SELECT * FROM api_keys")).one()
    assert row.key_hash == keys.hash_secret(secret.split("_", 2)[2])
    assert secret.split("_", 2)[2] not in row.key_hash
    assert keys.verify_key(empty_db, secret) == keys.ApiKey(key.key_id, "wall screen", "viewer")
    assert keys.verify_key(empty_db, secret + "x") is None
    assert keys.verify_key(empty_db, "om_" + key.key_id) is None
    keys.revoke_key(empty_db, key.key_id)
    assert keys.verify_key(empty_db, secret) is None
    assert not keys.has_active_keys(empty_db)


def test_two_keys_never_share_a_secret(empty_db):
    a = keys.create_key(empty_db, "admin")[1]
    b = keys.create_key(empty_db, "admin")[1]
    assert a != b and keys.parse_key(a)[0] != keys.parse_key(b)[0]


def test_bad_role_and_unknown_key_are_domain_errors(empty_db):
    with pytest.raises(InvalidInput, match="unknown role 'root'"):
        keys.create_key(empty_db, "root")
    with pytest.raises(NotFound, match="no API key with id 0123456789ab"):
        keys.revoke_key(empty_db, "0123456789ab")
    with pytest.raises(InvalidInput, match="is not a key id"):
        keys.revoke_key(empty_db, "'; DROP TABLE api_keys; --")


def test_cli_create_list_revoke(empty_db, db_env):
    created = run(["keys", "create", "--role", "planner", "--name", "plan office"], db_env)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    key_id, _ = keys.parse_key(secret)
    assert "not shown again" in created.stderr
    assert keys.verify_key(empty_db, secret).role == "planner"

    listed = run(["keys", "list"], db_env)
    assert listed.returncode == 0, listed.stderr
    assert key_id in listed.stdout and "planner" in listed.stdout and "plan office" in listed.stdout
    assert secret.split("_", 2)[2] not in listed.stdout

    revoked = run(["keys", "revoke", key_id], db_env)
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked key {key_id}" in revoked.stdout
    assert keys.verify_key(empty_db, secret) is None


@pytest.mark.parametrize("args, message", [
    (["keys", "create", "--role", "root"], "unknown role 'root'"),
    (["keys", "revoke", "0123456789ab"], "no API key with id 0123456789ab"),
    (["keys", "revoke", "nope"], "is not a key id"),
])
def test_cli_errors_are_one_line(empty_db, db_env, args, message):
    proc = run(args, db_env)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_loopback_names():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.8.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("::")


def test_check_can_listen(empty_db, db_settings):
    check_can_listen("127.0.0.1", db_settings)  # open local mode is fine
    with pytest.raises(RefuseToListen, match="refusing to listen on 0.0.0.0 without API keys"):
        check_can_listen("0.0.0.0", db_settings)
    keys.create_key(empty_db, "admin")
    check_can_listen("0.0.0.0", db_settings)


def test_serve_beyond_loopback_without_keys_prints_one_line(empty_db, db_env):
    proc = run(["serve", "--host", "0.0.0.0", "--port", "18765"], db_env)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "refusing to listen on 0.0.0.0 without API keys" in lines[0]

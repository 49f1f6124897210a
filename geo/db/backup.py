"""Back up and restore the whole database (``pg_dump``/``pg_restore``, custom format).

A dump holds every table, sequence and function of the configured database;
the PostGIS extension itself is not restored from the file (the target already
has it, or gets it with ``CREATE EXTENSION``). A restore runs in a single
transaction: it replaces all data or, on any error, changes nothing.
Afterwards every layer's data version moves past any version served before,
so tile ETags from before the restore never match restored data.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from geo.db import cluster
from geo.db.engine import make_engine
from geo.db.urls import sqlalchemy_url
from geo.errors import ClusterError, FileFormatError, InvalidInput
from geo.settings import DatabaseSettings

MAGIC = b"PGDMP"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BackupSummary:
    """What a dump or a restore did."""

    path: Path
    bytes: int
    tables: int


def _tool(name: str, settings: DatabaseSettings) -> str:
    return str(cluster.pg_bindir(settings.pg_bindir) / name)


def _conn_args(settings: DatabaseSettings) -> tuple[list[str], dict[str, str]]:
    """Connection flags (no password on the command line) and the environment carrying it."""
    url = sqlalchemy_url(settings)
    args = ["--host", url.host or "127.0.0.1", "--port", str(url.port or 5432),
            "--username", url.username or "postgres", "--dbname", url.database or "postgres"]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    env["PGCONNECT_TIMEOUT"] = "10"
    return args, env


def _run(cmd: list[str], env: dict[str, str], what: str, progress: Progress | None) -> int:
    """Run a client tool, feeding its verbose lines to ``progress``; count tables seen."""
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True)
    tables, errors = 0, []
    assert proc.stderr is not None
    for line in proc.stderr:
        line = line.rstrip()
        if "table data" in line or "contents of table" in line:
            tables += 1
        if "error:" in line.lower() or "fatal" in line.lower():
            errors.append(line)
        if progress and line:
            progress(line.split(": ", 1)[-1])
    if proc.wait() != 0:
        first = errors[0] if errors else f"exit code {proc.returncode}"
        raise ClusterError(f"{what} failed: {first.split(': ', 1)[-1]}")
    return tables


def dump(settings: DatabaseSettings, path: Path, progress: Progress | None = None) -> BackupSummary:
    """Write the whole database to ``path`` (custom format; written atomically)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise InvalidInput(f"cannot write {path}: it is a folder")
    if settings.embedded:
        cluster.start(settings)
    args, env = _conn_args(settings)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        tables = _run([_tool("pg_dump", settings), "--format=custom", "--verbose", "--no-owner",
                       "--no-privileges", "--file", tmp, *args], env, "pg_dump", progress)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return BackupSummary(path, path.stat().st_size, tables)


#: Rows of PostGIS's own table, dumped as an extension configuration table. The service role
#: does not own it (the superuser made the extension) and the target already has its rows.
_EXTENSION_DATA = " TABLE DATA public spatial_ref_sys "


def _restore_list(path: Path, env: dict[str, str], settings: DatabaseSettings) -> str:
    """The archive's table of contents without the extensions and their own rows."""
    proc = subprocess.run([_tool("pg_restore", settings), "--list", str(path)], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise FileFormatError(f"{path} is not a readable onemap dump: "
                              f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    keep = [ln for ln in proc.stdout.splitlines()
            if ln.startswith(";") or not (" EXTENSION " in ln or _EXTENSION_DATA in ln)]
    return "\n".join(keep) + "\n"


def restore(settings: DatabaseSettings, path: Path,
            progress: Progress | None = None) -> BackupSummary:
    """Replace the database's contents with the dump at ``path`` (all or nothing)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no dump file at {path}")
    with open(path, "rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise FileFormatError(f"{path} is not a pg_dump custom-format file "
                                  "(make one with `onemap db dump FILE`)")
    if settings.embedded:
        cluster.start(settings)
    args, env = _conn_args(settings)
    toc = _restore_list(path, env, settings)
    engine = make_engine(settings)
    try:
        before = _max_layer_version(engine)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        with tempfile.NamedTemporaryFile("w", suffix=".list") as listing:
            listing.write(toc)
            listing.flush()
            tables = _run([_tool("pg_restore", settings), "--verbose", "--clean", "--if-exists",
                           "--no-owner", "--no-privileges", "--single-transaction",
                           "--exit-on-error", "--use-list", listing.name, *args, str(path)],
                          env, "pg_restore", progress)
        _move_layer_versions_past(engine, before)
    finally:
        engine.dispose()
    return BackupSummary(path, path.stat().st_size, tables)


def _max_layer_version(engine) -> int:
    with engine.connect() as conn:
        if not conn.execute(text("SELECT to_regclass('public.layer_versions')")).scalar():
            return 0
        return int(conn.execute(text("SELECT coalesce(max(version), 0) FROM layer_versions"))
                   .scalar())


def _move_layer_versions_past(engine, before: int) -> None:
    """Give every layer a version newer than any served before the restore."""
    with engine.begin() as conn:
        if not conn.execute(text("SELECT to_regclass('public.layer_versions')")).scalar():
            return
        layers = conn.execute(
            text("UPDATE layer_versions SET version = greatest(version, :floor) + 1, "
                 "changed_at = now() RETURNING layer"),
            {"floor": before},
        ).scalars().all()
        for layer in layers:
            conn.execute(text("SELECT pg_notify('onemap_layers', :layer)"), {"layer": layer})

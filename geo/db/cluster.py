"""The embedded PostGIS cluster in ``data/pg`` (initdb + pg_ctl).

With no ``ONEMAP_DATABASE_URL`` the service runs its own PostgreSQL on
127.0.0.1:55432. PostgreSQL refuses to run as root, so when we are root the
server runs as the ``postgres`` system user (created by Debian's package).
The password of the ``onemap`` role is generated at first start and kept in
``<cluster_dir>.password`` (mode 600).
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from geo.errors import ClusterError
from geo.settings import DatabaseSettings

_CONF = """
# --- onemap embedded cluster ---
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
max_connections = 200
shared_buffers = 512MB
work_mem = 64MB
maintenance_work_mem = 512MB
effective_cache_size = 4GB
synchronous_commit = off
jit = off
max_wal_size = 4GB
random_page_cost = 1.1
logging_collector = off
"""


@dataclass(frozen=True)
class ClusterStatus:
    """What ``onemap db status`` reports."""

    initialised: bool
    running: bool
    directory: Path
    port: int

    def __str__(self) -> str:
        state = "running" if self.running else ("stopped" if self.initialised else "not created")
        return f"embedded PostGIS {state} at {self.directory} (127.0.0.1:{self.port})"


def pg_bindir() -> Path:
    """Folder holding initdb/pg_ctl, preferring PostgreSQL 15."""
    env = os.environ.get("ONEMAP_PG_BINDIR")
    candidates = [Path(env)] if env else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    preferred = [c for c in candidates if c.parent.name == "15"] + candidates
    for c in preferred:
        if (c / "pg_ctl").exists() and (c / "initdb").exists():
            return c
    raise ClusterError("PostgreSQL binaries not found; run `make setup` (installs postgresql-15)")


def password_file(settings: DatabaseSettings) -> Path:
    """Where the generated password of the onemap role lives."""
    d = settings.cluster_dir
    return d.parent / f"{d.name}.password"


def cluster_password(settings: DatabaseSettings) -> str:
    """The onemap role's password (created on first use)."""
    f = password_file(settings)
    if not f.exists():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(secrets.token_urlsafe(24))
        f.chmod(0o600)
    return f.read_text().strip()


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", "postgres", "--", *cmd]


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(_as_server_user(cmd), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise ClusterError(f"{what} failed: {tail[0]}")
    return proc


def _open_path_for_server_user(directory: Path) -> None:
    """As root, let the postgres user reach and own the cluster folder."""
    if os.geteuid() != 0:
        return
    import pwd

    pw = pwd.getpwnam("postgres")
    os.chown(directory, pw.pw_uid, pw.pw_gid)
    for parent in directory.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def status(settings: DatabaseSettings) -> ClusterStatus:
    """Whether the cluster exists and runs."""
    d = settings.cluster_dir
    initialised = (d / "PG_VERSION").exists()
    running = False
    if initialised:
        proc = subprocess.run(
            _as_server_user([str(pg_bindir() / "pg_ctl"), "-D", str(d), "status"]),
            capture_output=True,
            text=True,
        )
        running = proc.returncode == 0
    return ClusterStatus(initialised, running, d, settings.pg_port)


def init(settings: DatabaseSettings) -> None:
    """Create the cluster folder with initdb (no-op when it exists)."""
    d = settings.cluster_dir
    if (d / "PG_VERSION").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    _open_path_for_server_user(d)
    d.chmod(0o700)
    pw = cluster_password(settings)
    pwfile = d.parent / f".{d.name}.initpw"
    pwfile.write_text(pw)
    _open_path_for_server_user(pwfile)
    try:
        _run(
            [
                str(pg_bindir() / "initdb"),
                "-D",
                str(d),
                "-U",
                settings.pg_user,
                "--pwfile",
                str(pwfile),
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            "initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    with open(d / "postgresql.conf", "a") as f:
        f.write(_CONF.format(port=settings.pg_port))


def start(settings: DatabaseSettings, timeout_s: int = 60) -> ClusterStatus:
    """Create (first time) and start the cluster; make sure the database has PostGIS."""
    if not settings.embedded:
        raise ClusterError("ONEMAP_DATABASE_URL is set: the embedded cluster is not used")
    init(settings)
    st = status(settings)
    if not st.running:
        d = settings.cluster_dir
        if _stale_pid(d):
            (d / "postmaster.pid").unlink(missing_ok=True)
        _run(
            [
                str(pg_bindir() / "pg_ctl"),
                "-D",
                str(d),
                "-l",
                str(d / "server.log"),
                "-w",
                "-t",
                str(timeout_s),
                "-o",
                f"-p {settings.pg_port}",
                "start",
            ],
            "pg_ctl start (see data/pg/server.log)",
        )
    ensure_database(settings)
    return status(settings)


def _stale_pid(d: Path) -> bool:
    pid_file = d / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
        return False
    except (ValueError, IndexError, ProcessLookupError):
        return True
    except PermissionError:
        return False


def stop(settings: DatabaseSettings) -> ClusterStatus:
    """Stop the cluster (fast shutdown)."""
    st = status(settings)
    if st.running:
        _run(
            [
                str(pg_bindir() / "pg_ctl"),
                "-D",
                str(settings.cluster_dir),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            "pg_ctl stop",
        )
    return status(settings)


def ensure_database(settings: DatabaseSettings, name: str | None = None) -> None:
    """Create the database (and the postgis extension) when missing."""
    import psycopg

    name = name or settings.pg_database
    admin = admin_dsn(settings, "postgres")
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = psycopg.connect(admin, autocommit=True, connect_timeout=5)
            break
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ClusterError(f"cannot connect to the embedded cluster: {exc}") from exc
            time.sleep(0.3)
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(admin_dsn(settings, name), autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def admin_dsn(settings: DatabaseSettings, database: str) -> str:
    """Libpq DSN of the embedded cluster for one database."""
    pw = cluster_password(settings)
    return (
        f"host=127.0.0.1 port={settings.pg_port} user={settings.pg_user} "
        f"password={pw} dbname={database}"
    )

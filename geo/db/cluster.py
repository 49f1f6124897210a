"""The embedded PostGIS cluster in ``data/pg`` (initdb + pg_ctl).

With no ``ONEMAP_DATABASE_URL`` the service runs its own PostgreSQL on
127.0.0.1 (port 55432 unless another was chosen). PostgreSQL refuses to run as
root, so when we are root the server runs as the ``postgres`` system user
(created by Debian's package).

Every install has its own passwords (:mod:`geo.db.passwords`, files of mode 0600
next to the cluster folder). The service connects as a role without superuser
rights; the superuser only sets things up (:mod:`geo.db.roles`). Before using a
server on the port, we make sure it is this cluster's (:mod:`geo.db.ports`).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import psycopg.sql

from geo.db import passwords, ports, roles
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
    #: Who else serves ``port`` when this cluster does not (None: nobody, or us).
    other: str | None = None

    def __str__(self) -> str:
        state = "running" if self.running else ("stopped" if self.initialised else "not created")
        line = f"embedded PostGIS {state} at {self.directory} (127.0.0.1:{self.port})"
        if self.other:
            line += f"; the port is taken by {self.other}, not this cluster"
        return line

    @property
    def ok(self) -> bool:
        """Running on its port, which nobody else holds."""
        return self.running and not self.other


def pg_bindir(configured: Path | None = None) -> Path:
    """Folder holding initdb/pg_ctl: ``configured`` (``ONEMAP_PG_BINDIR``), else PostgreSQL 15."""
    candidates = [Path(configured)] if configured else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    preferred = [c for c in candidates if c.parent.name == "15"] + candidates
    for c in preferred:
        if (c / "pg_ctl").exists() and (c / "initdb").exists():
            return c
    raise ClusterError("PostgreSQL binaries not found; run `make setup` (installs postgresql-15)")


def password_file(settings: DatabaseSettings) -> Path:
    """Where the service role's generated password lives (mode 0600, not in git)."""
    return passwords.service_file(settings)


def cluster_password(settings: DatabaseSettings) -> str:
    """The service role's password (generated on first use)."""
    return passwords.read(passwords.service_file(settings))


def port(settings: DatabaseSettings) -> int:
    """The cluster's port: ``ONEMAP_PG_PORT`` when set, else the one it was created with."""
    if "pg_port" in settings.model_fields_set:
        return settings.pg_port
    return ports.recorded_port(settings.cluster_dir / "postgresql.conf") or settings.pg_port


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", "postgres", "--", *cmd]


def _run(cmd: list[str], what: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, input=stdin)
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
    """Whether the cluster exists and runs, and whether someone else holds its port."""
    d = settings.cluster_dir
    initialised = (d / "PG_VERSION").exists()
    pm = ports.own_postmaster(d) if initialised else None
    if pm is not None:
        return ClusterStatus(True, True, d, pm.port)
    p = port(settings)
    other = ports.describe_listener(p) if ports.listening(p) else None
    return ClusterStatus(initialised, False, d, p, other)


def init(settings: DatabaseSettings) -> None:
    """Create the cluster folder with initdb (no-op when it exists)."""
    d = settings.cluster_dir
    if (d / "PG_VERSION").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    _open_path_for_server_user(d)
    d.chmod(0o700)
    pw = passwords.read(passwords.superuser_file(settings))
    pwfile = d.parent / f".{d.name}.initpw"
    passwords.write(pwfile, pw)
    _open_path_for_server_user(pwfile)
    try:
        _run(
            [
                str(pg_bindir(settings.pg_bindir) / "initdb"),
                "-D",
                str(d),
                "-U",
                settings.pg_superuser,
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
        f.write(_CONF.format(port=port(settings)))


def choose_port(settings: DatabaseSettings, choice: str) -> int:
    """Set the cluster's port and record it in its ``postgresql.conf``.

    ``choice`` is a number, or ``auto``: keep the port when it is free or ours, else
    take the next free one.
    """
    init(settings)
    st = status(settings)
    current = port(settings)
    if choice == "auto":
        if st.running or (not ports.listening(current) and ports.bindable(current)):
            return current
        new = ports.free_port(current + 1)
        if new is None:
            raise ClusterError(f"no free port found after {current}")
    else:
        try:
            new = int(choice)
        except ValueError:
            raise ClusterError(f"--port takes a port number or auto, not {choice!r}") from None
        if not 1024 <= new <= 65535:
            raise ClusterError(f"--port must be between 1024 and 65535, not {new}")
    if st.running and new != st.port:
        raise ClusterError(f"the cluster runs on 127.0.0.1:{st.port}; stop it with "
                           "`onemap db down` before moving it")
    if "pg_port" in settings.model_fields_set and settings.pg_port != new:
        raise ClusterError(f"ONEMAP_PG_PORT={settings.pg_port} is set; unset it to use "
                           f"port {new}")
    ports.record_port(settings.cluster_dir / "postgresql.conf", new)
    return new


def start(settings: DatabaseSettings, timeout_s: int = 60) -> ClusterStatus:
    """Create (first time) and start the cluster; set up roles, database and extensions.

    Raises
    ------
    geo.errors.ClusterError
        The port is served by another cluster, or the server cannot start.
    """
    if not settings.embedded:
        raise ClusterError("ONEMAP_DATABASE_URL is set: the embedded cluster is not used")
    init(settings)
    st = status(settings)
    p = port(settings)
    if st.running and st.port != p:
        raise ClusterError(f"this cluster runs on 127.0.0.1:{st.port}, not {p}; stop it with "
                           "`onemap db down` or unset ONEMAP_PG_PORT")
    if not st.running:
        if st.other:
            raise ClusterError(
                f"127.0.0.1:{p} is used by {st.other}, not this cluster ({st.directory}); "
                "stop that server, set ONEMAP_PG_PORT to a free port, or run "
                "`onemap db up --port auto`")
        _launch(settings, timeout_s)
    _bootstrap(settings)
    return status(settings)


def _launch(settings: DatabaseSettings, timeout_s: int = 60) -> None:
    """``pg_ctl start`` on the cluster's port (a stale or foreign pid file is removed)."""
    d = settings.cluster_dir
    if (d / "postmaster.pid").exists() and ports.own_postmaster(d) is None:
        (d / "postmaster.pid").unlink(missing_ok=True)
    _run(
        [
            str(pg_bindir(settings.pg_bindir) / "pg_ctl"),
            "-D",
            str(d),
            "-l",
            str(d / "server.log"),
            "-w",
            "-t",
            str(timeout_s),
            "-o",
            f"-p {port(settings)}",
            "start",
        ],
        f"pg_ctl start (see {d / 'server.log'})",
    )


def stop(settings: DatabaseSettings) -> ClusterStatus:
    """Stop the cluster (fast shutdown); a server that is not this cluster's is left alone."""
    st = status(settings)
    if st.running:
        _run(
            [
                str(pg_bindir(settings.pg_bindir) / "pg_ctl"),
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


def _dsn(settings: DatabaseSettings, user: str, password: str, database: str) -> str:
    return (f"host=127.0.0.1 port={port(settings)} user={user} password={password} "
            f"dbname={database}")


def superuser_dsn(settings: DatabaseSettings, database: str) -> str:
    """Libpq DSN of the cluster's superuser on ``database`` (setup and tests only)."""
    pw = passwords.read(passwords.superuser_file(settings), create=False)
    if pw is None:
        raise ClusterError("the superuser's password file is missing; run `onemap db up`")
    return _dsn(settings, settings.pg_superuser, pw, database)


def _auth_failed(exc: psycopg.OperationalError) -> bool:
    text = str(exc)
    return "password authentication failed" in text or (
        "role" in text and "does not exist" in text)


def _connect_retrying(dsn: str, deadline_s: float = 30) -> psycopg.Connection:
    """Connect, waiting while the server starts; a refused password is raised at once."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return roles.connect(dsn)
        except psycopg.OperationalError as exc:
            if _auth_failed(exc):
                raise
            if time.monotonic() > deadline:
                raise ClusterError(f"cannot connect to the embedded cluster: {exc}") from exc
            time.sleep(0.3)


def _superuser_session(settings: DatabaseSettings) -> psycopg.Connection:
    """A superuser connection to ``postgres``; upgrades an old cluster on the way."""
    pw = passwords.read(passwords.superuser_file(settings), create=False)
    if pw is not None:
        try:
            return _connect_retrying(_dsn(settings, settings.pg_superuser, pw, "postgres"))
        except psycopg.OperationalError:
            pass  # password lost or changed: recover as for an old cluster
    _upgrade_superuser(settings)
    return _connect_retrying(superuser_dsn(settings, "postgres"))


def _upgrade_superuser(settings: DatabaseSettings) -> None:
    """Make the bootstrap superuser ``pg_superuser`` with a new password (in its 0600 file).

    Old clusters named it ``onemap`` (the service's name) with the password once
    committed in ``data/pg.password``. Access comes from that password when it still
    works, else from single-user mode (server stopped briefly), which needs no password.
    A temporary superuser does the renaming; :func:`_bootstrap` drops it.
    """
    tmp = passwords.new_password()
    grant = (f"DROP ROLE IF EXISTS {roles.UPGRADE_ROLE};\n"
             f"CREATE ROLE {roles.UPGRADE_ROLE} SUPERUSER LOGIN PASSWORD '{tmp}';\n")
    legacy = passwords.read(passwords.service_file(settings), create=False)
    done = False
    if legacy:
        try:
            with _connect_retrying(_dsn(settings, settings.pg_user, legacy, "postgres")) as c:
                if c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                             ).fetchone()[0]:
                    for stmt in grant.strip().splitlines():
                        c.execute(stmt)
                    done = True
        except psycopg.OperationalError:
            pass
    if not done:
        _single_user(settings, grant)
    new_pw = passwords.new_password()
    with _connect_retrying(_dsn(settings, roles.UPGRADE_ROLE, tmp, "postgres")) as c:
        old = roles.bootstrap_name(c)
        if old != settings.pg_superuser:
            c.execute(psycopg.sql.SQL("ALTER ROLE {} RENAME TO {}").format(
                psycopg.sql.Identifier(old), psycopg.sql.Identifier(settings.pg_superuser)))
        c.execute(psycopg.sql.SQL("ALTER ROLE {} SUPERUSER LOGIN PASSWORD {}").format(
            psycopg.sql.Identifier(settings.pg_superuser), psycopg.sql.Literal(new_pw)))
    passwords.write(passwords.superuser_file(settings), new_pw)
    passwords.write(passwords.service_file(settings), passwords.new_password())


def _single_user(settings: DatabaseSettings, statements: str) -> None:
    """Run ``statements`` in single-user mode (as the bootstrap superuser, no password)."""
    was_running = status(settings).running
    if was_running:
        stop(settings)
    proc = _run([str(pg_bindir(settings.pg_bindir) / "postgres"), "--single", "-D",
                 str(settings.cluster_dir), "postgres"], "single-user postgres", stdin=statements)
    if "ERROR:" in proc.stderr:
        raise ClusterError("single-user postgres failed: "
                           f"{proc.stderr.strip().splitlines()[-1]}")
    _launch(settings)


def _bootstrap(settings: DatabaseSettings) -> None:
    """Service role, its database, the extensions; finishes an old cluster's upgrade."""
    d = settings.cluster_dir
    with _superuser_session(settings) as conn:
        served = Path(conn.execute("SHOW data_directory").fetchone()[0]).resolve()
        if served != d:
            raise ClusterError(f"127.0.0.1:{port(settings)} is served from {served}, not this "
                               f"cluster ({d})")
        upgrading = bool(conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                      (roles.UPGRADE_ROLE,)).fetchone())
        roles.ensure_service_role(conn, settings, cluster_password(settings))
        databases = [settings.pg_database]
        if upgrading:
            databases += [n for n in roles.service_databases(conn, settings.pg_superuser)
                          if n not in databases]
        for name in databases:
            roles.ensure_database(conn, settings, name)
        for name in ["template1", *databases]:
            with roles.connect(superuser_dsn(settings, name)) as db:
                if name in ("template1", settings.pg_database):
                    roles.ensure_extensions(db)
                if upgrading and name != "template1":
                    roles.hand_over_objects(db, settings.pg_superuser, settings.pg_user)
        if upgrading:
            conn.execute(psycopg.sql.SQL("DROP ROLE {}").format(
                psycopg.sql.Identifier(roles.UPGRADE_ROLE)))


def ensure_database(settings: DatabaseSettings, name: str | None = None) -> None:
    """Create a database owned by the service role, with the extensions (superuser)."""
    name = name or settings.pg_database
    with roles.connect(superuser_dsn(settings, "postgres")) as conn:
        roles.ensure_database(conn, settings, name)
    with roles.connect(superuser_dsn(settings, name)) as db:
        roles.ensure_extensions(db)

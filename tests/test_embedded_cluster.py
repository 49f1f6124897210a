"""The embedded cluster: private passwords, a service role without superuser rights,
old clusters upgraded, and a server on the port that is not ours never taken for ours.

Every cluster here is this module's own (folders under data/, free ports); the shared
server is never touched. Issue 13 points 11 and 18.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from api.testing.server import free_port
from geo.db import cluster, migrate, passwords
from geo.db.engine import make_engine
from geo.db.urls import libpq_url
from geo.settings import DatabaseSettings

ROOT = Path(__file__).resolve().parent.parent
#: What an old version committed as ``data/pg.password`` (public in git history).
LEGACY_PASSWORD = "81HLaHcTxbkoxySVDyKuOkLqRvO49bvI"


def _settings(d: Path, port: int | None = None) -> DatabaseSettings:
    extra = {} if port is None else {"pg_port": port}
    return DatabaseSettings(_env_file=None, database_url=None, pg_dir=d,
                            data_dir=ROOT / "data", **extra)


def _env(d: Path, port: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")}
    env.update(ONEMAP_PG_DIR=str(d), ONEMAP_DATA_DIR=str(ROOT / "data"),
               PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    if port is not None:
        env["ONEMAP_PG_PORT"] = str(port)
    return env


def onemap(d: Path, *args: str, port: int | None = None) -> subprocess.CompletedProcess:
    """``onemap ARGS`` on the cluster in ``d``."""
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=_env(d, port),
                          cwd=ROOT, capture_output=True, text=True, timeout=180)


def _remove(settings: DatabaseSettings) -> None:
    try:
        cluster.stop(settings)
    finally:
        shutil.rmtree(settings.cluster_dir, ignore_errors=True)
        passwords.service_file(settings).unlink(missing_ok=True)
        passwords.superuser_file(settings).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def first():
    """A fresh cluster, started the way ``onemap db up`` starts it."""
    d = ROOT / "data" / f"pgtest-{uuid.uuid4().hex[:8]}"
    settings = _settings(d, free_port())
    try:
        cluster.start(settings)
        yield settings
    finally:
        _remove(settings)


@pytest.fixture()
def second():
    """Another clone's data folder (not created yet)."""
    d = ROOT / "data" / f"pgtest-{uuid.uuid4().hex[:8]}"
    yield d
    _remove(_settings(d))


def _role(url: str) -> tuple[str, bool, bool]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("SELECT rolname, rolsuper, rolcreatedb FROM pg_roles "
                            "WHERE rolname = current_user").fetchone()


# --- point 11: passwords and roles ----------------------------------------------------------


@pytest.mark.db
def test_password_files_are_private_and_not_in_git(first):
    for f in (passwords.service_file(first), passwords.superuser_file(first)):
        assert f.exists(), f
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, (f, oct(f.stat().st_mode))
    tracked = subprocess.run(["git", "ls-files", "--", "data/pg.password", "data/*.password"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert tracked == "", f"password files are tracked: {tracked}"
    for name in ("data/pg.password", "data/pg.superuser.password"):
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT)
        assert ignored.returncode == 0, f"{name} is not git-ignored"


def test_a_loose_password_file_is_tightened(tmp_path):
    f = tmp_path / "pg.password"
    f.write_text("x" * 32)
    f.chmod(0o644)
    assert passwords.read(f) == "x" * 32
    assert stat.S_IMODE(f.stat().st_mode) == 0o600


@pytest.mark.db
def test_the_service_role_is_not_a_superuser(first):
    url = onemap(first.cluster_dir, "db", "url", port=first.pg_port).stdout.splitlines()[-1]
    assert url.startswith("postgresql+psycopg://onemap:")
    name, superuser, createdb = _role(libpq_url(first))
    assert (name, superuser, createdb) == ("onemap", False, True)
    with psycopg.connect(libpq_url(first), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER SYSTEM SET work_mem = '1MB'")
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database "
                             "WHERE datname = current_database()").fetchone()[0]
        assert owner == "onemap"
        exts = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    assert {"postgis", "pgrouting"} <= exts


@pytest.mark.db
def test_migrations_run_as_the_service_role(first):
    migrate.upgrade(first)
    engine = make_engine(first)
    try:
        with engine.connect() as conn:
            owners = set(conn.execute(text(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'spatial_ref_sys'")).scalars())
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == \
                migrate.head_revision()
    finally:
        engine.dispose()
    assert owners == {"onemap"}


@pytest.mark.db
def test_the_service_role_can_make_test_databases(first):
    """What tests/conftest.py create_database/drop_database need, without superuser."""
    name = f"onemap_t_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(libpq_url(first, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(libpq_url(first, name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")  # from template1: a no-op
            assert conn.execute("SELECT postgis_lib_version()").fetchone()[0]
    finally:
        with psycopg.connect(libpq_url(first, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}"')


# --- point 18: whose server is on the port ----------------------------------------------------


@pytest.mark.db
def test_a_second_clone_on_the_same_port_is_refused(first, second):
    before = onemap(first.cluster_dir, "db", "url", port=first.pg_port).stdout.splitlines()[-1]
    up = onemap(second, "db", "up", port=first.pg_port)
    assert up.returncode != 0
    lines = up.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in up.stderr, up.stderr
    assert str(first.cluster_dir) in lines[0] and "not this cluster" in lines[0], lines[0]
    st = onemap(second, "db", "status", port=first.pg_port)
    assert st.returncode != 0
    assert "stopped" in st.stdout and str(first.cluster_dir) in st.stdout, st.stdout
    # the first clone's server and passwords are untouched
    assert onemap(first.cluster_dir, "db", "status", port=first.pg_port).returncode == 0
    after = onemap(first.cluster_dir, "db", "url", port=first.pg_port).stdout.splitlines()[-1]
    assert after == before


@pytest.mark.db
def test_two_fresh_clones_side_by_side_with_port_auto(first, second):
    """``db up --port auto`` (what ``make run`` does) moves a new clone to a free port."""
    mine = _settings(second)
    cluster.init(_settings(second, first.pg_port))  # created with the taken port recorded
    up = onemap(second, "db", "up", "--port", "auto")
    assert up.returncode == 0, up.stderr
    assert cluster.port(mine) != first.pg_port
    assert f"now uses port {cluster.port(mine)}" in up.stdout
    st = onemap(second, "db", "status")
    assert st.returncode == 0 and str(second) in st.stdout
    assert cluster.cluster_password(mine) != cluster.cluster_password(first)
    assert passwords.read(passwords.superuser_file(mine)) != \
        passwords.read(passwords.superuser_file(first))
    with psycopg.connect(cluster.superuser_dsn(mine, "postgres"), autocommit=True) as conn:
        served = conn.execute("SHOW data_directory").fetchone()[0]
    assert Path(served).resolve() == second.resolve()
    # The first clone's password does not open the second clone's server.
    wrong = libpq_url(mine).replace(cluster.cluster_password(mine),
                                    cluster.cluster_password(first))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(wrong, connect_timeout=5).close()


@pytest.mark.db
def test_a_pid_file_of_another_cluster_is_not_a_running_server(first, second):
    """A data folder carrying another cluster's postmaster.pid (copied clone) is stopped."""
    mine = _settings(second, first.pg_port)
    cluster.init(mine)
    shutil.copy(first.cluster_dir / "postmaster.pid", second / "postmaster.pid")
    st = cluster.status(mine)
    assert not st.running, str(st)
    assert "not this cluster" in str(st)
    out = onemap(second, "db", "status", port=first.pg_port)
    assert out.returncode != 0 and "running at" not in out.stdout, out.stdout


# --- clusters made by older versions -----------------------------------------------------------


def _legacy_cluster(d: Path, port: int) -> DatabaseSettings:
    """A cluster as old versions made it: superuser ``onemap``, the committed password."""
    settings = _settings(d, port)
    d.mkdir(parents=True)
    cluster._open_path_for_server_user(d)
    d.chmod(0o700)
    pwfile = d.parent / f".{d.name}.initpw"
    pwfile.write_text(LEGACY_PASSWORD)
    cluster._open_path_for_server_user(pwfile)
    try:
        cluster._run([str(cluster.pg_bindir() / "initdb"), "-D", str(d), "-U", "onemap",
                      "--pwfile", str(pwfile), "--auth-host=scram-sha-256",
                      "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"], "initdb")
    finally:
        pwfile.unlink()
    with open(d / "postgresql.conf", "a") as f:
        f.write(cluster._CONF.format(port=port) + "shared_buffers = 32MB\n")
    cluster._launch(settings)
    dsn = f"host=127.0.0.1 port={port} user=onemap password={LEGACY_PASSWORD} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE onemap")
    with psycopg.connect(dsn.replace("dbname=postgres", "dbname=onemap"), autocommit=True) as c:
        c.execute("CREATE EXTENSION postgis")
    old = DatabaseSettings(_env_file=None, database_url=(
        f"postgresql+psycopg://onemap:{LEGACY_PASSWORD}@127.0.0.1:{port}/onemap"))
    migrate.upgrade(old)
    engine = make_engine(old)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO admin_areas (code, name, level, geom) VALUES ('370303', '张店区', "
            "'district', ST_Multi(ST_MakeEnvelope(118.00, 36.75, 118.10, 36.85, 4326)))"))
    engine.dispose()
    f = passwords.service_file(settings)
    f.write_text(LEGACY_PASSWORD)
    f.chmod(0o644)  # as git checked it out
    return settings


@pytest.mark.db
@pytest.mark.parametrize("password_file", ["kept", "gone"])
def test_an_old_cluster_is_upgraded(password_file):
    """Kept: the committed file is still there. Gone: ``git pull`` deleted it (untracked now)
    while the old server kept running — single-user mode recovers access."""
    d = ROOT / "data" / f"pgtest-{uuid.uuid4().hex[:8]}"
    settings = _legacy_cluster(d, free_port())
    try:
        if password_file == "gone":
            passwords.service_file(settings).unlink()
        cluster.start(settings)
        service = cluster.cluster_password(settings)
        assert service != LEGACY_PASSWORD
        for f in (passwords.service_file(settings), passwords.superuser_file(settings)):
            assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert _role(libpq_url(settings))[:2] == ("onemap", False)
        with pytest.raises(psycopg.OperationalError):  # the public password opens nothing
            psycopg.connect(libpq_url(settings).replace(service, LEGACY_PASSWORD),
                            connect_timeout=5).close()
        with psycopg.connect(cluster.superuser_dsn(settings, "postgres")) as conn:
            roles = dict(conn.execute("SELECT rolname, rolsuper FROM pg_roles "
                                      "WHERE rolname !~ '^pg_'").fetchall())
        assert roles == {"postgres": True, "onemap": False}
        migrate.upgrade(settings)  # as the service role, on the old tables
        engine = make_engine(settings)
        try:
            with engine.begin() as conn:
                assert conn.execute(text("SELECT count(*) FROM admin_areas")).scalar() == 1
                conn.execute(text("INSERT INTO admin_areas (code, name, level, geom) VALUES "
                                  "('370304', '博山区', 'district', ST_Multi(ST_MakeEnvelope("
                                  "118.1, 36.75, 118.2, 36.85, 4326)))"))
                owners = set(conn.execute(text(
                    "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'spatial_ref_sys'")).scalars())
        finally:
            engine.dispose()
        assert owners == {"onemap"}
        again = cluster.start(settings)  # a second start changes nothing
        assert again.ok and cluster.cluster_password(settings) == service
    finally:
        _remove(settings)

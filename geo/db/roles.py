"""Roles, ownership and extensions of the embedded cluster.

The service connects as its own role (``pg_user``, default ``onemap``): no superuser
rights, owner of its database, allowed to create databases (the test suite and the
benchmarks make their own). The superuser (``pg_superuser``, default ``postgres``)
creates that role and the extensions the service needs — PostGIS and pgRouting, in
the service's database and in ``template1`` so databases made later have them — since
a non-superuser cannot create them.

Clusters made by older versions had one role, ``onemap``, the superuser, whose password
was committed to git. :func:`upgrade_legacy` renames it to the superuser name, creates
the service role, hands it the objects and gives both new passwords.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from geo.settings import DatabaseSettings

EXTENSIONS = ("postgis", "pgrouting")
#: A temporary superuser used only while upgrading an old cluster.
UPGRADE_ROLE = "onemap_upgrade"

_OWNED_SCHEMAS = """
    SELECT n.nspname FROM pg_namespace AS n
    WHERE n.nspowner = %(owner)s::regrole AND n.nspname <> 'information_schema'
      AND n.nspname NOT LIKE 'pg\\_%%' AND NOT EXISTS (
        SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_namespace'::regclass
        AND d.objid = n.oid AND d.deptype = 'e')
"""
_OWNED_RELATIONS = """
    SELECT c.oid::regclass::text, c.relkind FROM pg_class AS c
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.relowner = %(owner)s::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
"""
_OWNED_ROUTINES = """
    SELECT p.oid::regprocedure::text FROM pg_proc AS p
    JOIN pg_namespace AS n ON n.oid = p.pronamespace
    WHERE p.proowner = %(owner)s::regrole
      AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_proc'::regclass
                      AND d.objid = p.oid AND d.deptype = 'e')
"""
_OWNED_TYPES = """
    SELECT t.oid::regtype::text FROM pg_type AS t
    JOIN pg_namespace AS n ON n.oid = t.typnamespace
    WHERE t.typowner = %(owner)s::regrole AND t.typtype IN ('e', 'd', 'r', 'm')
      AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_type'::regclass
                      AND d.objid = t.oid AND d.deptype = 'e')
"""
_RELKIND_WORD = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW",
                 "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}


def connect(dsn: str, timeout_s: float = 10) -> psycopg.Connection:
    """An autocommit connection (raises psycopg.OperationalError)."""
    return psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(timeout_s)))


def ensure_service_role(conn: psycopg.Connection, settings: DatabaseSettings,
                        password: str) -> None:
    """Create or update the service role: LOGIN, CREATEDB, not a superuser, this password."""
    role = sql.Identifier(settings.pg_user)
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                          (settings.pg_user,)).fetchone()
    verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
    conn.execute(sql.SQL("{} {} LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION "
                         "NOBYPASSRLS PASSWORD {}").format(verb, role, sql.Literal(password)))


def ensure_database(conn: psycopg.Connection, settings: DatabaseSettings,
                    name: str | None = None) -> None:
    """Create the database owned by the service role, or hand an existing one to it."""
    name = name or settings.pg_database
    row = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                       (name,)).fetchone()
    if row is None:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(settings.pg_user)))
    elif row[0] != settings.pg_user:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(name), sql.Identifier(settings.pg_user)))


def ensure_extensions(conn: psycopg.Connection) -> list[str]:
    """``CREATE EXTENSION IF NOT EXISTS`` for each of :data:`EXTENSIONS` installed here."""
    available = {r[0] for r in conn.execute(
        "SELECT name FROM pg_available_extensions WHERE name = ANY(%s)", (list(EXTENSIONS),))}
    made = []
    for ext in EXTENSIONS:
        if ext in available:
            conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
            made.append(ext)
    return made


def hand_over_objects(conn: psycopg.Connection, old_owner: str, new_owner: str) -> int:
    """Give ``new_owner`` what ``old_owner`` owns in the connected database; how many.

    Schemas, tables, views, sequences, routines and types; extension members stay.

    ``REASSIGN OWNED`` cannot be used: the old owner is the bootstrap superuser, which
    owns the system catalogues.
    """
    args = {"owner": old_owner}
    new = sql.Identifier(new_owner)
    n = 0
    for (schema,) in conn.execute(_OWNED_SCHEMAS, args).fetchall():
        conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), new))
        n += 1
    for name, kind in conn.execute(_OWNED_RELATIONS, args).fetchall():
        conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(
            sql.SQL(_RELKIND_WORD[kind]), sql.SQL(name), new))
        n += 1
    for (routine,) in conn.execute(_OWNED_ROUTINES, args).fetchall():
        conn.execute(sql.SQL("ALTER ROUTINE {} OWNER TO {}").format(sql.SQL(routine), new))
        n += 1
    for (typ,) in conn.execute(_OWNED_TYPES, args).fetchall():
        conn.execute(sql.SQL("ALTER TYPE {} OWNER TO {}").format(sql.SQL(typ), new))
        n += 1
    return n


def service_databases(conn: psycopg.Connection, owner: str) -> list[str]:
    """Databases other than the system ones owned by ``owner``."""
    return [r[0] for r in conn.execute(
        "SELECT datname FROM pg_database WHERE datdba = %s::regrole AND datallowconn "
        "AND NOT datistemplate AND datname <> 'postgres' ORDER BY datname", (owner,))]


def bootstrap_name(conn: psycopg.Connection) -> str:
    """The name of the role initdb made (the bootstrap superuser, OID 10)."""
    return conn.execute("SELECT rolname FROM pg_roles WHERE oid = 10").fetchone()[0]

"""The demo database a benchmark measures: made once on the embedded cluster, then kept.

``ONEMAP_BENCH_DATABASE_URL`` names another database to use instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from geo.db import cluster, migrate
from geo.db.engine import make_engine
from geo.db.urls import sqlalchemy_url, url_string
from geo.settings import DatabaseSettings

ROOT = Path(__file__).resolve().parent.parent


def demo_database(size: str, *, table: str = "incidents", min_rows: int = 1,
                  who: str = "bench") -> DatabaseSettings:
    """Settings of ``onemap_bench_<size>``, migrated, with the ``size`` demo in it.

    The demo is built (``onemap demo --replace``) when ``table`` holds fewer than
    ``min_rows`` rows; ``who`` prefixes the line saying so.
    """
    url = os.environ.get("ONEMAP_BENCH_DATABASE_URL")
    if url:
        settings = DatabaseSettings(database_url=url)
    else:
        server = DatabaseSettings(database_url=None, data_dir=ROOT / "data")
        cluster.start(server)
        name = f"onemap_bench_{size}"
        cluster.ensure_database(server, name)
        settings = DatabaseSettings(database_url=url_string(sqlalchemy_url(server, name)))
    migrate.upgrade(settings)
    engine = make_engine(settings)
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0
    engine.dispose()
    if n < min_rows:
        print(f"{who}: building the {size} demo in the bench database (once)", flush=True)
        env = dict(os.environ, ONEMAP_DATABASE_URL=settings.database_url)
        subprocess.run([sys.executable, "-m", "api.cli", "demo", "--size", size, "--replace"],
                       cwd=ROOT, env=env, check=True)
    return settings

"""Run the Alembic migrations shipped inside the ``geo`` package."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from geo.db.urls import sqlalchemy_url, url_string
from geo.settings import DatabaseSettings


def alembic_config(settings: DatabaseSettings, database: str | None = None) -> Config:
    """An Alembic config pointing at ``geo/migrations`` and the configured database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("geo") / "migrations"))
    url = url_string(sqlalchemy_url(settings, database))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(settings: DatabaseSettings, database: str | None = None) -> None:
    """``alembic upgrade head``."""
    command.upgrade(alembic_config(settings, database), "head")


def head_revision() -> str:
    """The newest revision shipped with the code."""
    script = ScriptDirectory.from_config(alembic_config(DatabaseSettings(database_url="postgresql://x/y")))
    return script.get_current_head() or ""

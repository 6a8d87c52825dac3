"""PostgreSQL's schema, brought to the latest migration with Alembic (``migrations/``): run by
the server at start-up and by ``vitalwatch migrate --database URL``. SQLite needs none: its
modules create their tables (and upgrade older files) themselves."""

from __future__ import annotations

import logging
from pathlib import Path

from app.storage.base import OperationalError
from app.storage.url import parse, redacted

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(url: str):  # -> alembic.config.Config (imported here: SQLite servers never need it)
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Through attributes, not the ini option: a password may hold a '%' (configparser's syntax).
    config.attributes["url"] = "postgresql+psycopg" + parse(url).url[len("postgresql"):]
    return config


def upgrade(url: str) -> str:
    """Migrate the database at ``url`` to the head revision; returns that revision."""
    import sqlalchemy.exc
    from alembic import command
    from alembic.script import ScriptDirectory

    # Alembic tells each step at INFO; the server logs the revision it is at.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    config = _config(url)
    try:
        command.upgrade(config, "head")
    except sqlalchemy.exc.OperationalError as e:
        # The driver's message names host and port; the URL shown is without its password.
        raise OperationalError(f"cannot migrate {redacted(url)}: {e.orig}") from None
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current(url: str) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(_config(url).attributes["url"])
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()

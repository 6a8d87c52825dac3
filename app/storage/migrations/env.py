"""Alembic's environment for vitalwatch's PostgreSQL schema (run by ``app/storage/migrate.py``).

The migrations are plain SQL (``op.execute``): the modules write SQL, not ORM models, so there is
nothing to autogenerate from. An advisory lock serialises instances that start together: the
first migrates, the others then find the schema at its head.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

# Any fixed number: the lock is vitalwatch's migrations' own.
MIGRATION_LOCK = 0x766974616C

url = context.config.attributes.get("url") or context.config.get_main_option("sqlalchemy.url")
assert url, "no database URL: run the migrations through app/storage/migrate.py or vitalwatch migrate"
engine = create_engine(url)
with engine.connect() as connection:
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
    connection.commit()
    try:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()
engine.dispose()

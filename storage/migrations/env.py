"""Alembic environment: migrates the connection that storage.db hands over."""
from __future__ import annotations

import logging

from alembic import context

from storage.migrations import include_name
from storage.models import Base

logger = logging.getLogger(__name__)

config = context.config


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
elif context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=Base.metadata,
                      literal_binds=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()
else:
    # Developer use of the alembic CLI (e.g. ``revision --autogenerate``) against a URL.
    from storage.db import make_engine, resolve_db_url

    engine = make_engine(resolve_db_url(config.get_main_option("sqlalchemy.url")))
    try:
        with engine.begin() as conn:
            run_migrations(conn)
    finally:
        engine.dispose()

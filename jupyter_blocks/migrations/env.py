"""Alembic environment.

jupyter-blocks runs migrations in code (`jupyter_blocks.db.upgrade`, at server start-up or by
`jupyter blocks upgrade-db`), handing over a connection that holds the migration lock. For
development the alembic command line works too, with the repository's alembic.ini and the
database named by `-x db_url=...` (else JUPYTER_BLOCKS_DB_URL):

    alembic -x db_url=sqlite:///blocks.sqlite upgrade head
    alembic -x db_url=sqlite:///blocks.sqlite revision --autogenerate -m "what changes"
    alembic -x db_url=postgresql+psycopg://... upgrade head --sql     (offline: print the SQL)
"""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from jupyter_blocks.db import create_engine
from jupyter_blocks.models import Base

target_metadata = Base.metadata


def _db_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("db_url")
    url = url or os.environ.get("JUPYTER_BLOCKS_DB_URL")
    if not url:
        raise SystemExit("name the database: alembic -x db_url=<SQLAlchemy URL> ...")
    return url


def _include(item: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    """What autogenerate compares: not the optional trigram indexes of search, which a
    migration makes only where the pg_trgm extension can be created (so no model has them)."""
    return not (kind == "index" and reflected and name is not None and name.endswith("_trgm"))


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include,
        # SQLite alters a table by copying it.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
    elif context.is_offline_mode():
        context.configure(
            url=create_engine(_db_url()).url,
            target_metadata=target_metadata,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        engine = create_engine(_db_url(), pool_size=1)
        try:
            with engine.connect() as connection:
                _migrate(connection)
                connection.commit()
        finally:
            engine.dispose()


run_migrations()

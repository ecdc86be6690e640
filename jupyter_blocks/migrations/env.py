"""Alembic environment: migrations run on the connection jupyter_blocks.db.upgrade hands over."""

from alembic import context

from jupyter_blocks.models import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "jupyter-blocks migrations run through `jupyter blocks upgrade-db` or at server start-up"
        )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

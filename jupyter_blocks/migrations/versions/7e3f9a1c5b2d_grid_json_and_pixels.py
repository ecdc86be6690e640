"""Store each grid's data once as compact JSON (served as it is) and as packed pixels (drawn by
pages), instead of a JSON column decoded and encoded again on every read.

Revision ID: 7e3f9a1c5b2d
Revises: b7e4c1a9f2d6
Create Date: 2026-11-26
"""

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "7e3f9a1c5b2d"
down_revision = "b7e4c1a9f2d6"
branch_labels = None
depends_on = None

BATCH = 200
# As jupyter_blocks.render.pack_pixels made them at this revision (a migration never changes).
PIXELS_COMPRESSION = 1


def _pack_pixels(blocks: list[list[list[int]]]) -> bytes:
    return zlib.compress(
        bytes(chain.from_iterable(chain.from_iterable(blocks))), PIXELS_COMPRESSION
    )


def _batches(
    connection: sa.Connection, table: sa.TableClause, column: str
) -> Iterator[Sequence[sa.Row[Any]]]:
    """The id and `column` of every row, a batch at a time in id order (keyset paging)."""
    query = sa.select(table.c.id, table.c[column]).order_by(table.c.id)
    after = 0
    while True:
        rows = connection.execute(query.where(table.c.id > after).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


# Indexes on expressions, which batch_alter_table cannot carry over when it copies a SQLite table.
_EXPRESSION_INDEXES = {
    "ix_grids_lower_title": "lower(title)",
    "ix_grids_lower_author": "lower(author)",
}


@contextmanager
def _altering_grids() -> Iterator[BatchOperations]:
    """`batch_alter_table("grids")`, which on SQLite copies the table: it stays AUTOINCREMENT
    with its sequence (ids of deleted grids are never given out again), and its expression
    indexes, which the copy cannot carry over, are dropped before and made again after."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    last_id = None
    if sqlite:
        last_id = bind.scalar(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'grids'"))
        for name in _EXPRESSION_INDEXES:
            op.drop_index(name, table_name="grids")
    with op.batch_alter_table("grids", table_kwargs={"sqlite_autoincrement": True}) as batch:
        yield batch
    if sqlite:
        for name, expression in _EXPRESSION_INDEXES.items():
            op.create_index(name, "grids", [sa.text(expression)])
        if last_id:
            bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'grids'"))
            bind.execute(
                sa.text(
                    "INSERT INTO sqlite_sequence (name, seq) "
                    "SELECT 'grids', max(:last, COALESCE(max(id), 0)) FROM grids"
                ),
                {"last": last_id},
            )


def upgrade() -> None:
    op.add_column("grids", sa.Column("grid_json", sa.Text(), nullable=True))
    op.add_column("grids", sa.Column("pixels", sa.LargeBinary(), nullable=True))
    op.add_column("grids", sa.Column("lines_on", sa.Boolean(), nullable=True))
    grids = sa.table(
        "grids",
        sa.column("id", sa.BigInteger()),
        sa.column("grid_data", sa.JSON()),
        sa.column("grid_json", sa.Text()),
        sa.column("pixels", sa.LargeBinary()),
        sa.column("lines_on", sa.Boolean()),
    )
    connection = op.get_bind()
    for rows in _batches(connection, grids, "grid_data"):
        for row in rows:
            connection.execute(
                grids.update()
                .where(grids.c.id == row.id)
                .values(
                    grid_json=msgspec.json.encode(row.grid_data).decode(),
                    pixels=_pack_pixels(row.grid_data["blocks"]),
                    lines_on=bool(row.grid_data["lines_on"]),
                )
            )
    with _altering_grids() as batch:
        batch.alter_column("grid_json", existing_type=sa.Text(), nullable=False)
        batch.alter_column("pixels", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("lines_on", existing_type=sa.Boolean(), nullable=False)
        batch.drop_column("grid_data")
    if connection.dialect.name == "postgresql":
        _tune_postgresql_storage(connection)


def _tune_postgresql_storage(connection: sa.Connection) -> None:
    """PostgreSQL compresses big values before storing them: the pixels are compressed already
    (don't try again), and the JSON compresses faster with lz4 (when the server has it)."""
    op.execute("ALTER TABLE grids ALTER COLUMN pixels SET STORAGE EXTERNAL")
    has_lz4 = connection.scalar(
        sa.text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
    )
    if has_lz4:
        op.execute("ALTER TABLE grids ALTER COLUMN grid_json SET COMPRESSION lz4")


def downgrade() -> None:
    op.add_column("grids", sa.Column("grid_data", sa.JSON(), nullable=True))
    grids = sa.table(
        "grids",
        sa.column("id", sa.BigInteger()),
        sa.column("grid_data", sa.JSON()),
        sa.column("grid_json", sa.Text()),
    )
    connection = op.get_bind()
    for rows in _batches(connection, grids, "grid_json"):
        for row in rows:
            connection.execute(
                grids.update()
                .where(grids.c.id == row.id)
                .values(grid_data=msgspec.json.decode(row.grid_json))
            )
    with _altering_grids() as batch:
        batch.alter_column("grid_data", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("lines_on")
        batch.drop_column("pixels")
        batch.drop_column("grid_json")

"""Store each grid's data once as compact JSON (served as it is) and as packed pixels (drawn by
pages), instead of a JSON column decoded and encoded again on every read.

Plain SQL, so that it runs offline (`alembic upgrade --sql`) and quickly on a big gallery:
the JSON is copied as text, and the pixels of grids stored before this revision are left NULL,
to be packed from the JSON the first time a page or image needs them (service.py).

Revision ID: 7e3f9a1c5b2d
Revises: b7e4c1a9f2d6
Create Date: 2026-11-26
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import context, op
from alembic.operations import BatchOperations

revision = "7e3f9a1c5b2d"
down_revision = "b7e4c1a9f2d6"
branch_labels = None
depends_on = None

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
        if not context.is_offline_mode():
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


# The stored JSON as text (SQLite's json() also makes it compact), and its lines_on.
_TO_TEXT = {
    "sqlite": ("json(grid_data)", "json_extract(grid_data, '$.lines_on')"),
    "postgresql": ("CAST(grid_data AS TEXT)", "CAST(grid_data ->> 'lines_on' AS BOOLEAN)"),
}
_TO_JSON = {"sqlite": "json(grid_json)", "postgresql": "CAST(grid_json AS JSON)"}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("grids", sa.Column("grid_json", sa.Text(), nullable=True))
    op.add_column("grids", sa.Column("lines_on", sa.Boolean(), nullable=True))
    # NULL until first needed for the grids stored before this revision.
    op.add_column("grids", sa.Column("pixels", sa.LargeBinary(), nullable=True))
    grid_json, lines_on = _TO_TEXT[dialect]
    op.execute(f"UPDATE grids SET grid_json = {grid_json}, lines_on = {lines_on}")
    with _altering_grids() as batch:
        batch.alter_column("grid_json", existing_type=sa.Text(), nullable=False)
        batch.alter_column("lines_on", existing_type=sa.Boolean(), nullable=False)
        batch.drop_column("grid_data")
    if dialect == "postgresql":
        _tune_postgresql_storage()


def _tune_postgresql_storage() -> None:
    """PostgreSQL compresses big values before storing them: the pixels are compressed already
    (don't try again), and the JSON compresses faster with lz4 (when the server has it)."""
    op.execute("ALTER TABLE grids ALTER COLUMN pixels SET STORAGE EXTERNAL")
    op.execute(
        "DO $$ BEGIN "
        "IF EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression' "
        "AND 'lz4' = ANY(enumvals)) THEN "
        "ALTER TABLE grids ALTER COLUMN grid_json SET COMPRESSION lz4; "
        "END IF; END $$"
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("grids", sa.Column("grid_data", sa.JSON(), nullable=True))
    op.execute(f"UPDATE grids SET grid_data = {_TO_JSON[dialect]}")
    with _altering_grids() as batch:
        batch.alter_column("grid_data", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("pixels")
        batch.drop_column("lines_on")
        batch.drop_column("grid_json")

"""Ids are never reused (SQLite AUTOINCREMENT) and posts carry an idempotency key.

SQLite gives a deleted grid's row id to the next grid unless the table is declared
AUTOINCREMENT, which only a rebuild of the table can add: batch mode copies every row with its
id, and SQLite's sequence starts at the highest id copied. PostgreSQL's sequence never goes back;
it is only moved up to the highest id, should rows have been inserted with explicit ids.

Revision ID: 7d4e1b9c0a52
Revises: 9a1d5e7c0b42
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "7d4e1b9c0a52"
down_revision = "9a1d5e7c0b42"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "grids",
        recreate="always" if sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": True},
    ) as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(200), nullable=True))
        batch.create_index(
            "ux_grids_author_idempotency_key", ["author", "idempotency_key"], unique=True
        )
    if not sqlite:
        op.execute(
            "SELECT setval(pg_get_serial_sequence('grids', 'id'), top) "
            "FROM (SELECT max(id) AS top FROM grids) AS grids_top WHERE top > COALESCE("
            "pg_sequence_last_value(CAST(pg_get_serial_sequence('grids', 'id') AS regclass)), 0)"
        )


def downgrade() -> None:
    with op.batch_alter_table("grids") as batch:
        batch.drop_index("ux_grids_author_idempotency_key")
        batch.drop_column("idempotency_key")

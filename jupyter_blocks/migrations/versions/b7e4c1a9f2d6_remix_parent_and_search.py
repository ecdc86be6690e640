"""Remix lineage (grids.parent_id) and the indexes behind search and author suggestions.

Revision ID: b7e4c1a9f2d6
Revises: 9a1d5e7c0b42
Create Date: 2026-11-26

Search (`?q=`) is a case-insensitive substring match on title or author. On PostgreSQL it is
served by trigram GIN indexes on lower(title) and lower(author) when the pg_trgm extension can
be created (it is a trusted extension since PostgreSQL 13: the database owner may create it),
and author suggestions (a prefix) by a text_pattern_ops index on lower(author). SQLite cannot
use an index for LIKE on an expression: there both walk the public grids (newest first for
search, stopping once a page is full). These indexes depend on the database, so they are not in
the models (`models.SEARCH_INDEXES`; `migrations/env.py` leaves them out of comparisons).
"""

import sqlalchemy as sa
from alembic import op

revision = "b7e4c1a9f2d6"
down_revision = "9a1d5e7c0b42"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _has_trigrams() -> bool:
    """Create pg_trgm if this role may; a failure is undone by its own savepoint. Offline
    (`--sql`), the script creates it."""
    context = op.get_context()
    if context.dialect.name != "postgresql":
        return False
    if context.as_sql:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        return True
    bind = op.get_bind()
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def upgrade() -> None:
    context = op.get_context()
    if context.dialect.name == "sqlite" and context.as_sql:
        # Offline (`--sql`) batch mode cannot reflect the table to copy it: SQLite adds a
        # column with a foreign key in place.
        op.execute(
            "ALTER TABLE grids ADD COLUMN parent_id INTEGER "
            "REFERENCES grids (id) ON DELETE SET NULL"
        )
    else:
        with op.batch_alter_table("grids") as batch:
            batch.add_column(sa.Column("parent_id", RowId, nullable=True))
            batch.create_foreign_key(
                "fk_grids_parent_id", "grids", ["parent_id"], ["id"], ondelete="SET NULL"
            )
    op.create_index("ix_grids_parent_id_secret", "grids", ["parent_id", "secret"])
    if op.get_context().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_grids_lower_author",
        "grids",
        [sa.text("lower(author) text_pattern_ops")],
    )
    if _has_trigrams():
        for column in ("title", "author"):
            op.create_index(
                f"ix_grids_{column}_trgm",
                "grids",
                [sa.text(f"lower({column}) gin_trgm_ops")],
                postgresql_using="gin",
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for name in ("ix_grids_title_trgm", "ix_grids_author_trgm", "ix_grids_lower_author"):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_grids_parent_id_secret", table_name="grids")
    with op.batch_alter_table("grids") as batch:
        batch.drop_constraint("fk_grids_parent_id", type_="foreignkey")
        batch.drop_column("parent_id")

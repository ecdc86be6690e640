"""Remix lineage (grids.parent_id) and the indexes behind search and author suggestions.

Revision ID: b7e4c1a9f2d6
Revises: 7d4e1b9c0a52
Create Date: 2026-11-26

Search (`?q=`) is a case-insensitive substring match on title or author. On PostgreSQL it is
served by trigram GIN indexes on lower(title) and lower(author) when the pg_trgm extension can
be created (it is a trusted extension since PostgreSQL 13: the database owner may create it);
without it, and on SQLite, btree indexes on lower(...) serve author prefixes (suggestions) and
a substring search walks the public grids newest first, stopping once a page is full.
"""

import sqlalchemy as sa
from alembic import context, op

revision = "b7e4c1a9f2d6"
down_revision = "7d4e1b9c0a52"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _has_trigrams() -> bool:
    """Create pg_trgm if this role may; a failure is undone by its own savepoint."""
    if context.is_offline_mode():  # SQL printed for later: no role to ask, plain indexes only
        return False
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    if context.is_offline_mode():  # an SQL script (`--sql`): for someone who may create it
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        return True
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def upgrade() -> None:
    # On SQLite the batch rebuilds the table: keep it AUTOINCREMENT (ids never reused).
    with op.batch_alter_table("grids", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("parent_id", RowId, nullable=True))
        batch.create_foreign_key(
            "fk_grids_parent_id", "grids", ["parent_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_grids_parent_id_secret", ["parent_id", "secret"])
    op.create_index("ix_grids_lower_title", "grids", [sa.text("lower(title)")])
    op.create_index("ix_grids_lower_author", "grids", [sa.text("lower(author)")])
    if _has_trigrams():
        for column in ("title", "author"):
            op.create_index(
                f"ix_grids_{column}_trgm",
                "grids",
                [sa.text(f"lower({column}) gin_trgm_ops")],
                postgresql_using="gin",
            )


def downgrade() -> None:
    bind = op.get_bind()
    for column in ("title", "author"):
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP INDEX IF EXISTS ix_grids_{column}_trgm")
    op.drop_index("ix_grids_lower_author", table_name="grids")
    op.drop_index("ix_grids_lower_title", table_name="grids")
    with op.batch_alter_table("grids", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_index("ix_grids_parent_id_secret")
        batch.drop_constraint("fk_grids_parent_id", type_="foreignkey")
        batch.drop_column("parent_id")

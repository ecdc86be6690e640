"""The index of remixes holds only the grids remixed from another one.

Most grids have no parent: a full index took an entry (NULL, secret) for each, written with every
post. Worse, SQLite's statistics (ANALYZE, `PRAGMA optimize`) count those NULLs as one value
shared by most rows, and once they are taken its planner reads a page's remixes
(parent_id = ? AND NOT secret, newest first) by scanning the whole table instead, so that every
grid's page got slower as the gallery grew. A partial index (`WHERE parent_id IS NOT
NULL`) holds the remixes alone, its statistics count only them, and `parent_id = ?` implies the
condition, so both databases use it for remixes and for the foreign key's SET NULL on delete.

Revision ID: e5b2d8a4c7f1
Revises: c4a8e2f61d93
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "e5b2d8a4c7f1"
down_revision = "c4a8e2f61d93"
branch_labels = None
depends_on = None

_INDEX = "ix_grids_parent_id_secret"
_REMIXED = sa.text("parent_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="grids")
    op.create_index(
        _INDEX, "grids", ["parent_id", "secret"], sqlite_where=_REMIXED, postgresql_where=_REMIXED
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="grids")
    op.create_index(_INDEX, "grids", ["parent_id", "secret"])

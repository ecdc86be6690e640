"""The unique index of idempotency keys holds only the grids posted with one.

Most posts carry no key: a full index took an entry (author, NULL) for each, written with every
post and never read. A partial index (`WHERE idempotency_key IS NOT NULL`) keeps the same rule,
one grid per key and author, and the lookup of a key (author = ? AND idempotency_key = ?) uses it.

Revision ID: c4a8e2f61d93
Revises: 7e3f9a1c5b2d
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "c4a8e2f61d93"
down_revision = "7e3f9a1c5b2d"
branch_labels = None
depends_on = None

_INDEX = "ux_grids_author_idempotency_key"
_KEYED = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    op.drop_index(_INDEX, table_name="grids")
    op.create_index(
        _INDEX,
        "grids",
        ["author", "idempotency_key"],
        unique=True,
        sqlite_where=_KEYED,
        postgresql_where=_KEYED,
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="grids")
    op.create_index(_INDEX, "grids", ["author", "idempotency_key"], unique=True)

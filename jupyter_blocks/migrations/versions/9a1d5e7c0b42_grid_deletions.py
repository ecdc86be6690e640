"""Record every deleted grid: who deleted it, when, and whose it was (the moderation audit).

Revision ID: 9a1d5e7c0b42
Revises: 1f0c2a9d3b7e
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "9a1d5e7c0b42"
down_revision = "1f0c2a9d3b7e"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "grid_deletions",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("grid_row_id", sa.BigInteger(), nullable=False),
        sa.Column("grid_secret_nonce", sa.BigInteger(), nullable=True),
        sa.Column("grid_author", sa.String(255), nullable=False),
        sa.Column("grid_title", sa.String(200), nullable=True),
        sa.Column("deleted_by", sa.String(255), nullable=False),
        sa.Column("by_moderator", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("grid_deletions")

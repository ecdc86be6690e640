"""Create the grids table and the instance settings with a random hashids salt.

Revision ID: 1f0c2a9d3b7e
Revises:
Create Date: 2026-11-25
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "1f0c2a9d3b7e"
down_revision = None
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "grids",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("secret", sa.Boolean(), nullable=False),
        sa.Column("secret_nonce", sa.BigInteger(), nullable=True),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("ipb_class", sa.String(32), nullable=False),
        sa.Column("ipb_version", sa.String(32), nullable=True),
        sa.Column("python_version", sa.JSON(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("grid_data", sa.JSON(), nullable=False),
        sa.Column("code_cells", sa.JSON(), nullable=True),
        sa.Column("thumbnail_svg", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_grids_secret_id", "grids", ["secret", "id"])
    op.create_index("ix_grids_author_secret_id", "grids", ["author", "secret", "id"])
    settings = op.create_table(
        "instance_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    # Every server sharing this database reads the same salt, so ids agree between them.
    op.bulk_insert(settings, [{"key": "hashids_salt", "value": secrets.token_urlsafe(24)}])


def downgrade() -> None:
    op.drop_table("instance_settings")
    op.drop_index("ix_grids_author_secret_id", table_name="grids")
    op.drop_index("ix_grids_secret_id", table_name="grids")
    op.drop_table("grids")

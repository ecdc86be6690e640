"""Pack the pixels of the grids stored before there were any.

Revision 7e3f9a1c5b2d left them NULL, to be packed by the first read that needed them; reads
no longer write (they run on connections that refuse to), so they are packed here, in batches,
from each grid's stored JSON. Offline (`alembic upgrade --sql`) nothing is packed: reads draw a
grid without pixels from its JSON each time, and `jupyter blocks upgrade-db` packs them later.

Revision ID: f1a7c3e9b5d2
Revises: e5b2d8a4c7f1
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import context, op

from jupyter_blocks.service import packed_pixels

revision = "f1a7c3e9b5d2"
down_revision = "e5b2d8a4c7f1"
branch_labels = None
depends_on = None

_BATCH_ROWS = 500
_GRIDS = sa.table(
    "grids",
    sa.column("id", sa.Integer()),
    sa.column("width", sa.Integer()),
    sa.column("height", sa.Integer()),
    sa.column("grid_json", sa.Text()),
    sa.column("pixels", sa.LargeBinary()),
)


def upgrade() -> None:
    if context.is_offline_mode():
        return
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(_GRIDS.c.id, _GRIDS.c.width, _GRIDS.c.height, _GRIDS.c.grid_json)
            .where(_GRIDS.c.pixels.is_(None), _GRIDS.c.id > after)
            .order_by(_GRIDS.c.id)
            .limit(_BATCH_ROWS)
        ).all()
        if not rows:
            return
        bind.execute(
            sa.update(_GRIDS)
            .where(_GRIDS.c.id == sa.bindparam("row_id"))
            .values(pixels=sa.bindparam("packed")),
            [
                {"row_id": row.id, "packed": packed_pixels(row.grid_json, row.width, row.height)}
                for row in rows
            ],
        )
        after = rows[-1].id


def downgrade() -> None:
    """The packed pixels stay: the older schema has the column and reads them."""

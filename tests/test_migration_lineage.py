"""The lineage-and-search revision (b7e4c1a9f2d6) upgrades a database holding grids, keeping
their ids, and downgrades again to the revision before it. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from jupyter_blocks import db

LINEAGE = "b7e4c1a9f2d6"
BEFORE = ScriptDirectory.from_config(db.alembic_config()).get_revision(LINEAGE).down_revision


@pytest.fixture
def engine(db_url: str) -> Iterator[Any]:
    engine = db.create_engine(db_url)
    yield engine
    engine.dispose()


def grid_row(row_id: int) -> dict[str, Any]:
    return {
        "id": row_id,
        "secret": False,
        "author": "ada",
        "title": f"grid {row_id}",
        "ipb_class": "BlockGrid",
        "width": 1,
        "height": 1,
        "grid_data": {"lines_on": True, "width": 1, "height": 1, "blocks": [[[1, 2, 3, 4]]]},
        "thumbnail_svg": "<svg/>",
        "created_at": datetime.now(timezone.utc),
    }


def test_upgrade_keeps_grids_and_their_ids_and_downgrade_drops_only_lineage(engine: Any) -> None:
    db.upgrade(engine, BEFORE)
    grids = sa.Table("grids", sa.MetaData(), autoload_with=engine)
    with engine.begin() as connection:
        connection.execute(sa.insert(grids), [grid_row(7), grid_row(42)])

    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    with engine.begin() as connection:
        rows = connection.execute(sa.text("SELECT id, title, parent_id FROM grids ORDER BY id"))
        assert [tuple(row) for row in rows] == [(7, "grid 7", None), (42, "grid 42", None)]
        connection.execute(sa.text("UPDATE grids SET parent_id = 7 WHERE id = 42"))
        # The parent goes: its remix stays, without a parent.
        connection.execute(sa.text("DELETE FROM grids WHERE id = 7"))
        assert connection.scalar(sa.text("SELECT parent_id FROM grids WHERE id = 42")) is None

    with engine.connect() as connection:
        command.downgrade(db.alembic_config(connection), BEFORE)
        connection.commit()
    assert db.current_revision(engine) == BEFORE
    columns = {column["name"] for column in sa.inspect(engine).get_columns("grids")}
    assert "parent_id" not in columns
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT title FROM grids WHERE id = 42")) == "grid 42"

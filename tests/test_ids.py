"""Grid ids are never reused, on either database, and upgrading keeps every existing id."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from jupyter_blocks import db
from jupyter_blocks.models import Grid
from tests.utils import exported_row

pytestmark = pytest.mark.shared_server


async def test_a_deleted_grid_id_is_never_given_to_the_next_grid(
    jp_fetch: Any, post_grid: Any
) -> None:
    first = await post_grid(title="first")
    newest = await post_grid(title="to be deleted")  # the highest id: SQLite reused it
    picture = await jp_fetch("blocks", "api", "grids", newest["id"], "thumbnail.svg")
    deleted = await jp_fetch("blocks", "api", "grids", newest["id"], method="DELETE")
    assert deleted.code == 204
    after = await post_grid(title="after")
    assert after["id"] not in (first["id"], newest["id"])
    for parts in [
        ("blocks", "api", "grids", newest["id"]),
        ("blocks", newest["id"]),
        ("blocks", "get", newest["id"]),
    ]:
        assert (await jp_fetch(*parts, raise_error=False)).code == 404, parts
    # a browser revalidating its copy of the deleted grid's picture is told it is gone
    revalidated = await jp_fetch(
        "blocks",
        "api",
        "grids",
        newest["id"],
        "thumbnail.svg",
        headers={"If-None-Match": picture.headers["ETag"]},
        raise_error=False,
    )
    assert revalidated.code == 404
    assert "no-cache" in picture.headers["Cache-Control"]


def _grid_row(row_id: int) -> dict[str, Any]:
    """A one-block grid row of the first release's schema."""
    row = exported_row(row_id, size=1, code_cells=None)
    return {**row, "created_at": datetime.fromisoformat(row["created_at"])}


def _stored_row(row_id: int) -> dict[str, Any]:
    """`_grid_row` as the newest schema stores it: the grid data as JSON text."""
    row = _grid_row(row_id)
    grid_data = row.pop("grid_data")
    return {**row, "grid_json": json.dumps(grid_data), "lines_on": grid_data["lines_on"]}


def test_upgrading_keeps_every_id_and_never_reuses_one(db_url: str) -> None:
    engine = db.create_engine(db_url)
    try:
        db.upgrade(engine, revision="1f0c2a9d3b7e")  # the first release's schema
        columns = Grid.__table__.c
        old_grids = sa.table(
            "grids",
            *[
                sa.column(name, getattr(columns.get(name), "type", sa.JSON()))
                for name in _grid_row(0)
            ],
        )
        with engine.begin() as connection:
            connection.execute(sa.insert(old_grids), [_grid_row(n) for n in (1, 2, 5)])
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        with engine.begin() as connection:
            kept = connection.execute(sa.select(Grid.id, Grid.title).order_by(Grid.id)).all()
            assert kept == [(1, "grid 1"), (2, "grid 2"), (5, "grid 5")]
            new_row = {**_stored_row(0), "title": "new"}
            del new_row["id"]
            first_new = connection.execute(sa.insert(Grid).returning(Grid.id), new_row).scalar()
            assert first_new == 6
            connection.execute(sa.delete(Grid).where(Grid.id == first_new))
            second_new = connection.execute(sa.insert(Grid).returning(Grid.id), new_row).scalar()
            assert second_new == 7
    finally:
        engine.dispose()


def test_downgrading_the_id_migration_keeps_the_grids(db_url: str) -> None:
    engine = db.create_engine(db_url)
    try:
        db.upgrade(engine)
        with engine.begin() as connection:
            connection.execute(sa.insert(Grid), [_stored_row(3)])
            command.downgrade(db.alembic_config(connection), "1f0c2a9d3b7e")
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT id FROM grids")) == 3
        db.upgrade(engine)
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT id FROM grids")) == 3
    finally:
        engine.dispose()

"""How grids are stored: the posted grid data served back exactly, the migration that moved
existing grids to the stored form (ids kept), and `random` on empty and filled tables."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from jupyter_blocks import db, service
from jupyter_blocks.ids import GridKey
from jupyter_blocks.models import Grid
from jupyter_blocks.validation import Limits, PayloadValidator
from tests.utils import make_payload

pytestmark = pytest.mark.shared_server

BEFORE_STORED_FORM = "b7e4c1a9f2d6"


@pytest.mark.parametrize(
    ("width", "height", "extra"),
    [(1, 1, {}), (4, 3, {"origin": "upper-left"}), (200, 200, {"lines_on": False})],
    ids=["one-block", "with-origin", "200x200"],
)
@pytest.mark.parametrize("route", [("blocks", "post"), ("blocks", "api", "grids")])
async def test_get_returns_exactly_the_posted_grid_data(
    jp_fetch: Any, route: tuple[str, ...], width: int, height: int, extra: dict[str, Any]
) -> None:
    payload = make_payload(width=width, height=height)
    payload["grid_data"].update(extra)
    posted = await jp_fetch(*route, method="POST", body=json.dumps(payload))
    answer = json.loads(posted.body)
    grid_id = answer.get("id") or answer["url"].rsplit("/", 1)[1]
    served = await jp_fetch("blocks", "get", grid_id)
    assert served.headers["Content-Type"].startswith("application/json")
    assert json.loads(served.body) == payload["grid_data"]
    record = json.loads((await jp_fetch("blocks", "api", "grids", grid_id)).body)
    assert record["grid_data"] == payload["grid_data"]


@pytest.fixture
def database(db_url: str) -> Iterator[db.Database]:
    database = db.Database(db_url, connections=2)
    yield database
    database.close()


def test_the_migration_keeps_every_grid_its_id_and_its_data(database: db.Database) -> None:
    """Grids stored as a JSON column before the stored form come out the same after it."""
    engine = database.engine
    db.upgrade(engine, BEFORE_STORED_FORM)
    old = sa.table(
        "grids",
        *(sa.column(name) for name in ("id", "secret", "secret_nonce", "author", "title")),
        *(sa.column(name) for name in ("ipb_class", "width", "height", "thumbnail_svg")),
        sa.column("grid_data", sa.JSON()),
        sa.column("code_cells", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    grids = {
        7: make_payload(width=3, height=2)["grid_data"],
        12: {**make_payload(width=60, height=50)["grid_data"], "origin": "lower-left"},
    }
    with engine.begin() as connection:
        connection.execute(
            sa.insert(old),
            [
                {
                    "id": row_id,
                    "secret": row_id == 12,
                    "secret_nonce": 99 if row_id == 12 else None,
                    "author": "ada",
                    "title": None,
                    "ipb_class": "BlockGrid",
                    "width": grid_data["width"],
                    "height": grid_data["height"],
                    "thumbnail_svg": "<svg/>",
                    "grid_data": grid_data,
                    "code_cells": ["x = 1"],
                    "created_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
                }
                for row_id, grid_data in grids.items()
            ],
        )
    db.upgrade(engine)
    with engine.connect() as connection:
        unpacked = connection.scalar(
            sa.select(sa.func.count()).select_from(Grid).where(Grid.pixels.is_(None))
        )
    assert unpacked == 0  # the upgrade packed them: reads never write
    with database.read_sessions() as session:
        for row_id, grid_data in grids.items():
            key = GridKey(row_id, 99 if row_id == 12 else None)
            assert json.loads(service.grid_json(session, key) or "null") == grid_data
            packed = service.pixels(session, key)
            assert packed and zlib.decompress(packed) == bytes(
                value for row in grid_data["blocks"] for block in row for value in block
            )
            found = service.grid_for_page(session, key)
            assert found is not None and found.lines_on is True
    with engine.connect() as connection:
        command.downgrade(db.alembic_config(connection), BEFORE_STORED_FORM)
        connection.commit()
    assert db.current_revision(engine) == BEFORE_STORED_FORM
    with engine.connect() as connection:
        rows = connection.execute(sa.select(old.c.id, old.c.grid_data).order_by(old.c.id)).all()
    assert {row.id: row.grid_data for row in rows} == grids


def test_random_is_none_on_an_empty_table_and_only_public_grids_otherwise(
    database: db.Database,
) -> None:
    db.upgrade(database.engine)
    validator = PayloadValidator(Limits())

    def new(secret: bool) -> Any:
        return validator.validate(json.dumps(make_payload(secret=secret)).encode())

    with db.session_context(database.sessions) as session:
        assert service.random_public_id(session) is None
        secret = service.create_grid(session, new(secret=True), "ada")
        # only secret grids: still none to show
        assert service.random_public_id(session) is None
        public = [service.create_grid(session, new(secret=False), "ada").id for _ in range(3)]
        service.create_grid(session, new(secret=True), "ada")  # the highest id is secret
        seen = {service.random_public_id(session) for _ in range(60)}
    assert seen == set(public) and secret.id not in seen

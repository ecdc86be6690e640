"""Database behaviour: request-scoped sessions, schema upgrades under a lock, shared salts."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from conftest import make_payload

from jupyter_blocks import db
from jupyter_blocks.models import Grid
from jupyter_blocks.service import create_grid
from jupyter_blocks.validation import Limits, PayloadValidator


def new_grid() -> Any:
    return PayloadValidator(Limits()).validate(json.dumps(make_payload()).encode())


async def count_rows(engine: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).select_from(Grid)))


async def test_session_context_commits_on_success_and_rolls_back_on_error(db_url: str) -> None:
    db.upgrade(db_url)
    engine = db.create_engine(db_url)
    factory = db.create_session_factory(engine)
    try:
        async with db.session_context(factory) as session:
            await create_grid(session, new_grid(), "ada")
        assert await count_rows(engine) == 1

        with pytest.raises(RuntimeError):
            async with db.session_context(factory) as session:
                await create_grid(session, new_grid(), "ada")
                await session.flush()  # the row is in the database's transaction...
                raise RuntimeError("the request failed after the insert")
        assert await count_rows(engine) == 1  # ...and rolled back with it
        assert engine.pool.checkedout() == 0
    finally:
        await engine.dispose()


async def test_failed_requests_leave_no_open_transaction(
    jp_fetch: Any, blocks_app: Any, db_url: str
) -> None:
    created = await jp_fetch("blocks", "api", "grids", method="POST",
                             body=json.dumps(make_payload()))
    grid_id = json.loads(created.body)["id"]
    blocks_app.default_author = "somebody else"
    refused = await jp_fetch("blocks", "api", "grids", grid_id, method="DELETE", raise_error=False)
    assert refused.code == 403
    await jp_fetch("blocks", "post", method="POST", body=b"{", raise_error=False)
    assert blocks_app.engine.pool.checkedout() == 0
    assert await count_rows(blocks_app.engine) == 1
    if db_url.startswith("postgresql"):
        async with blocks_app.engine.connect() as connection:
            idle = await connection.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
            ))
        assert idle == 0


def test_upgrade_creates_the_schema_at_head_with_a_random_salt(db_url: str) -> None:
    assert db.current_revision(db_url) is None
    db.upgrade(db_url)
    assert db.current_revision(db_url) == db.head_revision()
    salt = db.stored_setting(db_url, "hashids_salt")
    assert salt and len(salt) >= 24
    db.upgrade(db_url)  # idempotent
    assert db.stored_setting(db_url, "hashids_salt") == salt


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    db.upgrade(db_url)

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as connection:
            command.downgrade(db.alembic_config(connection), "base")
            connection.commit()
        assert db.current_revision(db_url) is None
        assert "grids" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    db.upgrade(db_url)
    assert db.current_revision(db_url) == db.head_revision()


def test_many_servers_upgrading_at_once_upgrade_once(db_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def upgrade() -> None:
        start.wait()
        try:
            db.upgrade(db_url)
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=upgrade) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM alembic_version")) == 1
            assert connection.scalar(sa.text("SELECT count(*) FROM instance_settings")) == 1
    finally:
        engine.dispose()


def test_unsupported_databases_are_refused_clearly() -> None:
    with pytest.raises(db.UnsupportedDatabase, match="SQLite and PostgreSQL"):
        db.create_engine("mysql://localhost/blocks")


async def test_database_calls_do_not_block_the_event_loop(db_url: str) -> None:
    """While a slow query runs, the loop keeps ticking."""
    db.upgrade(db_url)
    engine = db.create_engine(db_url)
    slow = (
        "SELECT pg_sleep(0.5)" if db_url.startswith("postgresql")
        else "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
             "SELECT count(*) FROM c"
    )
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    try:
        async with engine.connect() as connection:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await connection.execute(sa.text(slow))
            elapsed = loop.time() - started
    finally:
        ticker.cancel()
        await engine.dispose()
    assert elapsed > 0.1
    assert ticks >= 5

"""Database behaviour: request-scoped sessions, schema upgrades under a lock, shared salts."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from jupyter_blocks import db
from jupyter_blocks.models import Grid
from jupyter_blocks.service import create_grid
from jupyter_blocks.validation import Limits, PayloadValidator
from tests.postgres import fresh_database
from tests.utils import make_payload

# What SQLite (query_only) and PostgreSQL (read-only transaction) say to a write.
REFUSED_WRITE = r"read-only|readonly"


def new_grid() -> Any:
    return PayloadValidator(Limits()).validate(json.dumps(make_payload()).encode())


def count_rows(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(Grid)))


@pytest.fixture
def database(db_url: str) -> Iterator[db.Database]:
    database = db.Database(db_url, connections=5)
    db.upgrade(database.engine)
    yield database
    database.close()


async def test_a_request_session_commits_on_success_and_rolls_back_on_error(
    database: db.Database,
) -> None:
    await database.write(lambda session: create_grid(session, new_grid(), "ada"))
    assert count_rows(database.engine) == 1

    def insert_then_fail(session: Any) -> None:
        create_grid(session, new_grid(), "ada")  # flushed: the row is in the transaction...
        raise RuntimeError("the request failed after the insert")

    with pytest.raises(RuntimeError):
        await database.write(insert_then_fail)
    assert count_rows(database.engine) == 1  # ...and rolled back with it
    assert database.engine.pool.checkedout() == 0


@pytest.mark.parametrize("one_statement", [False, True])
async def test_a_read_that_writes_fails_loudly_and_stores_nothing(
    database: db.Database, one_statement: bool
) -> None:
    """Read paths run on connections that refuse to write, also on PostgreSQL where a one-
    statement read commits by itself (no BEGIN READ ONLY to lean on)."""
    await database.write(lambda session: create_grid(session, new_grid(), "ada"))
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED_WRITE):
        await database.read(
            lambda session: create_grid(session, new_grid(), "ada"), one_statement=one_statement
        )
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED_WRITE):
        await database.read(lambda session: session.execute(sa.delete(Grid)), one_statement)
    assert count_rows(database.engine) == 1
    # the connections that refused are as good as before, and still refuse
    assert await database.read(lambda session: session.scalar(sa.select(sa.func.count(Grid.id))))
    with pytest.raises(sa.exc.DBAPIError, match=REFUSED_WRITE):
        await database.read(lambda session: session.execute(sa.delete(Grid)))
    assert await database.write(lambda session: session.execute(sa.delete(Grid)).rowcount) == 1


async def test_reads_of_one_statement_need_no_transaction_and_leave_none_behind(
    db_url: str,
) -> None:
    """On PostgreSQL, one-statement reads run without BEGIN and COMMIT (each statement commits
    by itself); the same pooled connection is transactional again for the next read."""
    database = db.Database(db_url, connections=2)  # one connection for reads, one for writes
    db.upgrade(database.engine)
    try:

        def in_transaction(session: Any) -> bool:
            session.execute(sa.select(sa.func.count()).select_from(Grid))
            return bool(session.connection().connection.dbapi_connection.info.transaction_status)

        if db_url.startswith("postgresql"):
            assert await database.read(in_transaction, one_statement=True) is False
            assert await database.read(in_transaction) is True
            assert await database.read(in_transaction, one_statement=True) is False
        await database.write(lambda session: create_grid(session, new_grid(), "ada"))
        assert count_rows(database.engine) == 1

        def insert_then_fail(session: Any) -> None:
            create_grid(session, new_grid(), "ada")
            raise RuntimeError("the request failed after the insert")

        with pytest.raises(RuntimeError):
            await database.write(insert_then_fail)
        assert count_rows(database.engine) == 1  # rolled back on the connection just used
    finally:
        database.close()


async def test_each_piece_of_work_gets_its_own_outcome_on_bounded_threads_made_on_first_use(
    db_url: str,
) -> None:
    database = db.Database(db_url, connections=3)
    db.upgrade(database.engine)
    running, most_at_once, lock = 0, 0, threading.Lock()

    def work(n: int) -> tuple[int, str]:
        nonlocal running, most_at_once
        with lock:
            running += 1
            most_at_once = max(most_at_once, running)
        threading.Event().wait((n % 5) / 500)  # finishing out of the order handed over
        with lock:
            running -= 1
        if n == 7:
            raise ValueError("piece 7 failed")
        return n, threading.current_thread().name

    threads_before = {thread.name for thread in threading.enumerate()}
    assert not any(name.startswith("jupyter-blocks-db") for name in threads_before)
    try:
        outcomes = await asyncio.gather(
            *(database.read(lambda _session, n=n: work(n)) for n in range(40)),
            return_exceptions=True,
        )
    finally:
        database.close()
    assert [o[0] if isinstance(o, tuple) else str(o) for o in outcomes] == [
        *range(7),
        "piece 7 failed",
        *range(8, 40),
    ]
    assert {o[1].rsplit("_", 1)[0] for o in outcomes if isinstance(o, tuple)} == {
        "jupyter-blocks-db-read"
    }
    readers = 3 if db_url.startswith("sqlite") else 2
    assert 1 < most_at_once <= readers  # as many at once as connections, never more


async def test_a_read_held_up_by_the_database_holds_up_no_other(database: db.Database) -> None:
    """As in an outage, where connecting waits for seconds: reads handed over with it run on
    other threads meanwhile."""
    release = threading.Event()
    held_up = asyncio.ensure_future(database.read(lambda _session: release.wait(10)))
    try:
        quick = [asyncio.ensure_future(database.read(lambda _session, n=n: n)) for n in range(3)]
        assert await asyncio.wait_for(asyncio.gather(*quick), timeout=5) == [0, 1, 2]
        assert not held_up.done()
    finally:
        release.set()
    assert await held_up is True


@pytest.mark.postgresql
async def test_a_pooled_connection_the_server_closed_is_replaced_before_use(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections back in the pool for a while are pinged when taken out (not before every
    request): one that PostgreSQL closed meanwhile is replaced, and the request succeeds."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.2)
    url = fresh_database(postgres_server)
    database = db.Database(url, connections=1)
    try:
        backend = await database.read(
            lambda session: session.scalar(sa.text("SELECT pg_backend_pid()"))
        )
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as watcher:
            watcher.execute("SELECT pg_terminate_backend(%s)", [backend])
        await asyncio.sleep(0.3)  # idle long enough to be pinged
        again = await database.read(
            lambda session: session.scalar(sa.text("SELECT pg_backend_pid()"))
        )
        assert again != backend
    finally:
        database.close()


async def test_database_work_runs_off_the_event_loop(database: db.Database, db_url: str) -> None:
    """While a slow query runs, the loop keeps ticking."""
    slow = (
        "SELECT pg_sleep(0.5)"
        if db_url.startswith("postgresql")
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
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        thread = await database.read(
            lambda session: (session.execute(sa.text(slow)), threading.current_thread().name)[1]
        )
    finally:
        ticker.cancel()
    elapsed = loop.time() - started
    assert thread.startswith("jupyter-blocks-db")
    assert elapsed > 0.1
    assert ticks >= 5


async def test_failed_requests_leave_no_open_transaction(
    jp_fetch: Any, blocks_app: Any, db_url: str
) -> None:
    created = await jp_fetch(
        "blocks", "api", "grids", method="POST", body=json.dumps(make_payload())
    )
    grid_id = json.loads(created.body)["id"]
    blocks_app.default_author = "somebody else"
    refused = await jp_fetch("blocks", "api", "grids", grid_id, method="DELETE", raise_error=False)
    assert refused.code == 403
    await jp_fetch("blocks", "post", method="POST", body=b"{", raise_error=False)
    engine = blocks_app.database.engine
    assert engine.pool.checkedout() == 0
    assert count_rows(engine) == 1
    if db_url.startswith("postgresql"):
        with engine.connect() as connection:
            idle = connection.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
                )
            )
        assert idle == 0


def test_upgrade_creates_the_schema_at_head_with_a_random_salt(db_url: str) -> None:
    engine = db.create_engine(db_url)
    try:
        assert db.current_revision(engine) is None
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        salt = db.stored_setting(engine, "hashids_salt")
        assert salt and len(salt) >= 24
        db.upgrade(engine)  # idempotent
        assert db.stored_setting(engine, "hashids_salt") == salt
    finally:
        engine.dispose()


def test_downgrade_and_upgrade_again(database: db.Database) -> None:
    engine = database.engine
    with engine.connect() as connection:
        command.downgrade(db.alembic_config(connection), "base")
        connection.commit()
    assert db.current_revision(engine) is None
    assert "grids" not in sa.inspect(engine).get_table_names()
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()


def test_many_servers_upgrading_at_once_upgrade_once(db_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def upgrade() -> None:
        engine = db.create_engine(db_url)
        start.wait()
        try:
            db.upgrade(engine)
        except BaseException as error:  # collected and asserted below
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=upgrade) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    engine = db.create_engine(db_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM alembic_version")) == 1
            assert connection.scalar(sa.text("SELECT count(*) FROM instance_settings")) == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "words"),
    [("mysql://localhost/blocks", "SQLite and PostgreSQL"), ("sqlite://", "in-memory")],
)
def test_unsupported_databases_are_refused_clearly(url: str, words: str) -> None:
    with pytest.raises(db.UnsupportedDatabase, match=words):
        db.create_engine(url)

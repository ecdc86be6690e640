"""The database: engine, request-scoped sessions run in a bounded thread pool, schema upgrades.

Every request does its database work in one call to `Database.run` (a post: in a posting
process, `posting.py`, in a session the same way): a worker thread opens a session, runs the
work, commits on success, rolls back on any error and always closes. The
event loop only awaits the result, so neither database I/O nor the (de)serialising of large
grids ever stalls it. The pool has as many threads as the engine has connections, so a worker
never waits for a connection while holding a thread. Work is handed to the threads in batches
(`Workers`), each piece still in a session of its own.

Work that is one statement or only reads (a grid, a listing page, a random grid) runs, on
PostgreSQL, in a session whose connection commits each statement by itself: one statement is
atomic anyway, so that is the same as commit on success and roll back on error, and it spares
PostgreSQL a BEGIN and a COMMIT, two of the three round trips of such a request.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from .models import InstanceSetting
from .scheduling import never_preempt_the_event_loop

T = TypeVar("T")

MIGRATIONS = str(Path(__file__).with_name("migrations"))

# Any constant works, as long as every jupyter-blocks server uses the same one.
_PG_MIGRATION_LOCK = 0x6A62_6C6B  # "jblk"

_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}


# PostgreSQL connections: a connection older than this is replaced when next taken from the
# pool, the server closes a pooled connection left idle this long (so an idle jupyter-blocks
# server holds none), and connecting gives up after this long (an outage answers 503 quickly).
POOL_RECYCLE_SECONDS = 30 * 60
IDLE_SESSION_TIMEOUT_SECONDS = 5 * 60
CONNECT_TIMEOUT_SECONDS = 5
# A pooled PostgreSQL connection idle for longer than this is pinged before it is used again;
# one used more recently is used as it is (a ping before every request is a round trip each).
PING_AFTER_IDLE_SECONDS = 10


class UnsupportedDatabase(ValueError):
    pass


class SchemaMismatch(RuntimeError):
    """The database's schema revision is not the one this version of jupyter-blocks needs."""

    def __init__(self, url: URL, current: str | None, head: str | None) -> None:
        shown = url.render_as_string(hide_password=True)
        super().__init__(
            f"jupyter-blocks: the database {shown} is at schema revision {current}, this version "
            f"needs {head}. Back it up, then run `jupyter blocks --db-url '{shown}' upgrade-db` "
            "(or start the server with BlocksApp.auto_migrate=True)."
        )
        self.current, self.head = current, head


class DatabaseUnavailable(Exception):
    """The database could not serve another process's work (a posting process's): the cause."""


def unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot serve right now (down, restarting, unreachable,
    out of connections, locked) rather than that a request or our code is wrong."""
    if isinstance(
        error,
        (
            DatabaseUnavailable,
            sa.exc.OperationalError,
            sa.exc.InterfaceError,
            sa.exc.TimeoutError,
        ),
    ):
        return True
    return isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(
    url: str | URL,
    pool_size: int = 5,
    idle_timeout: float = IDLE_SESSION_TIMEOUT_SECONDS,
    autocommit: bool = False,
) -> Engine:
    """An engine for SQLite (WAL, busy timeout, foreign keys) or PostgreSQL (psycopg 3, whose
    server closes connections idle for `idle_timeout` seconds). `autocommit`: on PostgreSQL,
    every statement commits by itself, on connections that stay so (an engine's
    `execution_options` switch a pooled connection there and back at each use)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise UnsupportedDatabase(
            f"jupyter-blocks supports SQLite and PostgreSQL databases, not {backend!r}"
        )
    parsed = parsed.set(drivername=_DRIVERS[backend])
    if _is_sqlite(parsed) and parsed.database in (None, "", ":memory:"):
        raise UnsupportedDatabase("an in-memory SQLite database cannot be shared: name a file")
    if _is_sqlite(parsed):
        # A SQLite file cannot drop the connection: pinging it is a wasted query per request.
        engine = sa.create_engine(parsed, pool_size=pool_size, max_overflow=0, pool_timeout=60)
        sa.event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    engine = sa.create_engine(
        parsed,
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        pool_recycle=POOL_RECYCLE_SECONDS,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            # pg_stat_activity names our connections (how many does the pool hold?)
            "application_name": "jupyter-blocks",
            "options": f"-c idle_session_timeout={round(idle_timeout * 1000)}",
            # psycopg 3 prepares a statement on the server from its second use on a
            # connection: the few queries every request makes are planned once per connection.
            "prepare_threshold": 1,
        },
    )
    _ping_when_idle(engine, min(PING_AFTER_IDLE_SECONDS, idle_timeout / 2))
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Replace connections the server closed (idle timeout, restart) before they are used:
    a connection back in the pool for more than `idle_seconds` is pinged when taken out, and
    one that does not answer is replaced by a new one. (pool_pre_ping pings before every use.)
    A connection that fails in use anyway (the server restarted a moment ago) invalidates the
    pool: that request answers 503, the next ones connect again."""

    @sa.event.listens_for(engine, "checkin")
    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.pop("checked_in", None)
        if checked_in is None or time.monotonic() - checked_in < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise sa.exc.DisconnectionError("the pooled connection did not answer") from error


@contextmanager
def session_context(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One session for one request: commit on success, roll back on any error, always close."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class Workers:
    """A bounded pool of threads that the event loop hands work to in batches: the work handed
    over during one turn of the loop wakes one thread, which takes pieces one by one until none
    is left, and which wakes an idle thread whenever it starts on a piece while more wait (a
    piece held up by the database, for seconds in an outage, holds up no other). A thread pool
    executor wakes a thread for every piece of work on the event loop's time, and on a busy
    server those wake-ups cost more than the small database work of most requests (measured
    with benchmarks/run.py: 10x10 posts on SQLite, whose writes queue for one thread, went from
    540 to 778 per second)."""

    def __init__(self, threads: int, name: str) -> None:
        self._work: deque[tuple[asyncio.AbstractEventLoop, Callable[[], Any], asyncio.Future[Any]]]
        self._work = deque()
        self._wake: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._handing_over = False
        # how many threads wait to be woken (a guide: at worst a piece waits for the next turn)
        self._idle = 0
        self._idle_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, work: Callable[[], T]) -> T:
        """`work()`, in one of the threads."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._work.append((loop, work, future))
        if not self._handing_over:
            self._handing_over = True
            loop.call_soon(self._hand_over)
        return await future

    def _hand_over(self) -> None:
        self._handing_over = False
        self._wake.put(True)

    def _serve(self) -> None:
        never_preempt_the_event_loop()
        while True:
            with self._idle_lock:
                self._idle += 1
            woken = self._wake.get()
            with self._idle_lock:
                self._idle -= 1
            if not woken:
                return
            while True:
                try:
                    loop, work, future = self._work.popleft()
                except IndexError:
                    break
                if self._work and self._idle > 0:
                    self._wake.put(True)
                try:
                    outcome: tuple[Any, BaseException | None] = (work(), None)
                except BaseException as error:  # the request's to handle, as with an executor
                    outcome = (None, error)
                with suppress(RuntimeError):  # the loop is closed: no one waits any more
                    loop.call_soon_threadsafe(_settle, future, *outcome)

    def shutdown(self) -> None:
        """Finish the work handed over, then stop the threads."""
        for _ in self._threads:
            self._wake.put(False)
        for thread in self._threads:
            thread.join()


class Database:
    """An engine, its session factories, and the bounded pool of threads that use them."""

    def __init__(self, url: str | URL, pool_size: int) -> None:
        sqlite = _is_sqlite(make_url(url))
        # On SQLite, the writing thread (below) has a connection of its own.
        self.engine = create_engine(url, pool_size + 1 if sqlite else pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The same pool; on PostgreSQL each statement commits by itself (see the module's
        # docstring). SQLite's BEGIN and COMMIT cost no round trip: there it is the same.
        self.one_statement_sessions = self.sessions
        if not sqlite:
            self.one_statement_sessions = sessionmaker(
                self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            )
        self._threads = Workers(pool_size, "jupyter-blocks-db")
        # SQLite lets one connection write at a time, and one that waits for the file's write
        # lock sleeps for milliseconds at a time: writes queue for one thread instead.
        self._writing_threads = self._threads
        if sqlite:
            self._writing_threads = Workers(1, "jupyter-blocks-db-write")

    async def run(
        self, work: Callable[[Session], T], one_statement: bool = False, writes: bool = False
    ) -> T:
        """Run `work(session)` in a worker thread, in a request-scoped session. `one_statement`:
        the work makes one statement (or only reads), which needs no transaction around it;
        `writes`: it stores or changes grids."""
        sessions = self.one_statement_sessions if one_statement else self.sessions
        threads = self._writing_threads if writes else self._threads
        return await threads.run(lambda: self._in_session(sessions, work))

    def _in_session(self, sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
        with session_context(sessions) as session:
            return work(session)

    def close(self) -> None:
        if self._writing_threads is not self._threads:
            self._writing_threads.shutdown()
        self._threads.shutdown()
        self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection holding a lock that only one upgrading server at a time can hold."""
    url = engine.url
    if _is_sqlite(url):
        database = url.database
        if database and database != ":memory:":
            lock_path = Path(f"{database}.migration-lock")
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(lock_path, timeout=120), engine.connect() as connection:
                yield connection
        else:
            with engine.connect() as connection:
                yield connection
        return
    with engine.connect() as connection:
        connection.execute(sa.select(sa.func.pg_advisory_lock(_PG_MIGRATION_LOCK)))
        connection.commit()
        try:
            yield connection
        finally:
            connection.rollback()
            connection.execute(sa.select(sa.func.pg_advisory_unlock(_PG_MIGRATION_LOCK)))
            connection.commit()


def backup_sqlite(engine: Engine) -> Path | None:
    """Copy a SQLite database file to `<file>.<UTC timestamp>.bak` (with SQLite's online backup,
    which includes what is still in the write-ahead log); None for other databases."""
    database = engine.url.database
    if not _is_sqlite(engine.url) or not database or not Path(database).exists():
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d-%H%M%S")
    target = Path(f"{database}.{stamp}.bak")
    with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    return target


def upgrade(
    engine: Engine, revision: str = "head", log: logging.Logger | None = None
) -> Path | None:
    """Bring the database to `revision`, under a lock so concurrent servers upgrade it once.
    A SQLite file that holds an older schema is backed up first: returns the backup's path."""
    backup = None
    with _migration_lock(engine) as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        script = ScriptDirectory.from_config(alembic_config())
        if current == script.as_revision_number(revision):
            return None
        if log:
            log.info("jupyter-blocks: upgrading database %s to %s", engine.url, revision)
        if current is not None:
            connection.rollback()  # end the read transaction, so the backup sees a quiet file
            backup = backup_sqlite(engine)
            if backup and log:
                log.info("jupyter-blocks: backed up %s to %s", engine.url.database, backup)
        command.upgrade(alembic_config(connection), revision)
        connection.commit()
    return backup


def stored_setting(engine: Engine, key: str) -> str | None:
    """A value of the instance settings table (read at start-up)."""
    with engine.connect() as connection:
        return connection.scalar(sa.select(InstanceSetting.value).where(InstanceSetting.key == key))


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

"""The database: engines, request-scoped sessions run in bounded thread pools, schema upgrades.

Work that is one statement or only reads (a grid, a listing page, a random grid) runs, on
PostgreSQL, in a session whose connection commits each statement by itself: one statement is
atomic anyway, so that is the same as commit on success and roll back on error, and it spares
PostgreSQL a BEGIN and a COMMIT, two of the three round trips of such a request. Reads run on
connections that refuse to write (`PRAGMA query_only` on SQLite, `default_transaction_read_only`
on PostgreSQL, which holds for statements that commit by themselves too), so a write slipped
into a read path fails loudly instead of writing outside the one writer.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from .models import InstanceSetting

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

T = TypeVar("T")

MIGRATIONS = str(Path(__file__).with_name("migrations"))
# The newest schema revision (the head of migrations/versions; a test pins the two together):
# a server whose database is at it starts without importing Alembic.
HEAD_REVISION = "f1a7c3e9b5d2"

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
    """The database could not serve another process's work (a post worker's): the cause."""


class OutcomeUnknown(Exception):
    """A write handed to another process may or may not have been committed: the process died,
    or was wedged and torn down, before it answered."""


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


def _sqlite_pragmas(read_only: bool) -> Callable[[Any, Any], None]:
    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return set_pragmas


def create_engine(
    url: str | URL,
    pool_size: int = 5,
    idle_timeout: float = IDLE_SESSION_TIMEOUT_SECONDS,
    read_only: bool = False,
) -> Engine:
    """An engine for SQLite (WAL, busy timeout, foreign keys) or PostgreSQL (psycopg 3, whose
    server closes connections idle for `idle_timeout` seconds). `read_only`: its connections
    refuse to write, for as long as they live."""
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
        sa.event.listen(engine, "connect", _sqlite_pragmas(read_only))
        return engine
    options = f"-c idle_session_timeout={round(idle_timeout * 1000)}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    engine = sa.create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        pool_recycle=POOL_RECYCLE_SECONDS,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            # pg_stat_activity names our connections (how many does the pool hold?)
            "application_name": "jupyter-blocks",
            "options": options,
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


class Database:
    """The grid database as the server uses it: an engine for work that writes and one whose
    connections refuse to write, and for each a thread pool as big as its connection pool.

    A request does its database work in one call to `read` or `write`: a thread of the pool
    opens a session, runs the work, commits on success, rolls back on any error and always
    closes; the event loop awaits the executor's future, which is that request's and no other's.
    Neither pool is made before the first request that needs it, and neither is the event loop's
    default executor (jupyter_server's own file operations use that one, and must not wait for
    a database that is down). Each pool has as many threads as its engine has connections, so a
    thread never waits for a connection while work that could run waits for a thread; writes
    have a pool of their own so that posts waiting for SQLite's one writer hold up no read.
    """

    def __init__(self, url: str | URL, connections: int) -> None:
        sqlite = _is_sqlite(make_url(url))
        # SQLite lets one connection write at a time: writes queue for one thread instead of
        # sleeping on the file's lock. PostgreSQL: a third of the connections (at least one).
        writers = 1 if sqlite else max(1, connections // 3)
        readers = max(1, connections if sqlite else connections - writers)
        self.engine = create_engine(url, writers)
        self.read_engine = create_engine(url, readers, read_only=True)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        # On PostgreSQL, reads of one statement run without BEGIN and COMMIT (see the module's
        # docstring); SQLite's cost no round trip, so there it is the same.
        self.one_statement_read_sessions = self.read_sessions
        if not sqlite:
            self.one_statement_read_sessions = sessionmaker(
                self.read_engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            )
        self._sizes = {"read": readers, "write": writers}
        self._executors: dict[str, ThreadPoolExecutor] = {}

    def _executor(self, kind: str) -> ThreadPoolExecutor:
        executor = self._executors.get(kind)
        if executor is None:
            executor = ThreadPoolExecutor(
                self._sizes[kind], thread_name_prefix=f"jupyter-blocks-db-{kind}"
            )
            self._executors[kind] = executor
        return executor

    async def read(self, work: Callable[[Session], T], one_statement: bool = False) -> T:
        """`work(session)` in a read-only session, in a thread of the read pool. `one_statement`:
        the work makes one statement, which needs no transaction around it."""
        sessions = self.one_statement_read_sessions if one_statement else self.read_sessions
        return await self._run("read", sessions, work)

    async def write(self, work: Callable[[Session], T]) -> T:
        """`work(session)` in a session that may write, in a thread of the write pool."""
        return await self._run("write", self.sessions, work)

    async def _run(
        self, kind: str, sessions: sessionmaker[Session], work: Callable[[Session], T]
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(kind), _in_session, sessions, work)

    def close(self) -> None:
        """Finish the work handed over, then stop the threads and close the connections."""
        for executor in self._executors.values():
            executor.shutdown(wait=True)
        self._executors.clear()
        self.engine.dispose()
        self.read_engine.dispose()


def _in_session(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    with session_context(sessions) as session:
        return work(session)


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection holding a lock that only one upgrading server at a time can hold."""
    url = engine.url
    if _is_sqlite(url):
        from filelock import FileLock

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
    A SQLite file that holds an older schema is backed up first: returns the backup's path.
    A database already at the newest revision is left as it is without loading Alembic."""
    if revision == "head" and current_revision(engine) == HEAD_REVISION:
        return None
    from alembic import command
    from alembic.script import ScriptDirectory

    backup = None
    with _migration_lock(engine) as connection:
        current = _revision_of(connection)
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
    """The head of the migration scripts, as Alembic reads them (`HEAD_REVISION` names it)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return _revision_of(connection)


def _revision_of(connection: Connection) -> str | None:
    """What Alembic's version table holds (one row on our linear history), read with plain SQL
    so that a server starting on an up-to-date database does not import Alembic."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    revision: str | None = connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return revision

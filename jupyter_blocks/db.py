"""Database engines, the request-scoped session context and schema upgrades.

One configured URL serves two engines: an asyncio engine for requests (aiosqlite or psycopg's
async mode), so database I/O never blocks the server's event loop, and a short-lived synchronous
engine for Alembic at start-up, before the server accepts requests.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .models import InstanceSetting

MIGRATIONS = str(Path(__file__).with_name("migrations"))

# Any constant works, as long as every jupyter-blocks server uses the same one.
_PG_MIGRATION_LOCK = 0x6A62_6C6B  # "jblk"

_SYNC_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}


class UnsupportedDatabase(ValueError):
    pass


def _with_driver(url: str | URL, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise UnsupportedDatabase(
            f"jupyter-blocks supports SQLite and PostgreSQL databases, not {backend!r}"
        )
    return parsed.set(drivername=drivers[backend])


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str | URL, pool_size: int = 5) -> AsyncEngine:
    """The request engine: asyncio, pre-pinged, SQLite tuned for many readers and one writer."""
    async_url = _with_driver(url, _ASYNC_DRIVERS)
    if _is_sqlite(async_url):
        engine = create_async_engine(async_url, pool_pre_ping=True)
        sa.event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
    else:
        engine = create_async_engine(
            async_url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size
        )
    return engine


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_context(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session for one request: commit on success, roll back on any error, always close."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def _create_sync_engine(url: str | URL) -> Engine:
    sync_url = _with_driver(url, _SYNC_DRIVERS)
    engine = sa.create_engine(sync_url, poolclass=sa.pool.NullPool)
    if _is_sqlite(sync_url):
        sa.event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


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
        lock_path = f"{database}.migration-lock" if database and database != ":memory:" else None
        if lock_path:
            Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
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


def upgrade(url: str | URL, revision: str = "head", log: logging.Logger | None = None) -> None:
    """Bring the database to `revision`, under a lock so concurrent servers upgrade it once."""
    engine = _create_sync_engine(url)
    try:
        with _migration_lock(engine) as connection:
            if log:
                log.info("jupyter-blocks: upgrading database %s to %s", engine.url, revision)
            command.upgrade(alembic_config(connection), revision)
            connection.commit()
    finally:
        engine.dispose()


def stored_setting(url: str | URL, key: str) -> str | None:
    """A value of the instance settings table, read once at start-up."""
    engine = _create_sync_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(
                sa.select(InstanceSetting.value).where(InstanceSetting.key == key)
            )
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str | URL) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    engine = _create_sync_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()

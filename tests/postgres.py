"""A throwaway PostgreSQL server for the test session, started from Debian's binaries.

initdb refuses to run as root, so as root the server runs as the `postgres` account, in a data
directory that account can reach (see TOOLCHAIN.md).
"""

from __future__ import annotations

import glob
import itertools
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from tests.utils import free_port

_database_numbers = itertools.count()


def _binaries() -> Path | None:
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        return Path(shutil.which("initdb")).parent  # type: ignore[arg-type]
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """A PostgreSQL server of our own in a fresh data directory, which can be stopped and started
    again on the same port (to test outages)."""

    def __init__(self) -> None:
        bindir = _binaries()
        if bindir is None:
            raise RuntimeError(
                "PostgreSQL server binaries not found: `apt-get install postgresql` "
                "(bash .ci/run does)"
            )
        self.bindir = bindir
        as_root = os.geteuid() == 0
        self.run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
        self.base = Path(tempfile.mkdtemp(prefix="jupyter-blocks-pg-", dir="/tmp"))
        self.data = self.base / "data"
        if as_root:
            shutil.chown(self.base, "postgres")
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"
        subprocess.run(
            [
                *self.run_as,
                str(bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=check,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data} -c fsync=off -c max_connections=200"
        self._pg_ctl("-o", options, "-l", str(self.data / "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session (an outage); `immediate` also skips the shutdown checkpoint."""
        self._pg_ctl("-m", mode, "-w", "stop")

    def remove(self) -> None:
        self._pg_ctl("-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a server on 127.0.0.1, yield its admin URL (no database part), stop and delete it."""
    server = PostgresServer()
    try:
        server.start()
        yield server.url
    finally:
        server.remove()


def _admin(server_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(server_url.replace("+psycopg", "") + "/postgres", autocommit=True)


def _create(conn: psycopg.Connection[Any], server_url: str, template: str | None) -> str:
    name = f"blocks_test_{next(_database_numbers)}"
    copy_of = f' TEMPLATE "{template}"' if template else ""
    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.execute(f'CREATE DATABASE "{name}"{copy_of}')
    return f"{server_url}/{name}"


def _drop(conn: psycopg.Connection[Any], url: str) -> None:
    # FORCE: a server may still hold sessions on it
    conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def fresh_database(server_url: str, template: str | None = None) -> str:
    """A new database on the server at `server_url`, empty or a copy of `template` (a database
    no one is connected to); its URL."""
    with _admin(server_url) as conn:
        return _create(conn, server_url, template)


def drop_database(url: str) -> None:
    """Drop the database at `url`, ending its sessions."""
    with _admin(url.rsplit("/", 1)[0]) as conn:
        _drop(conn, url)


class DatabaseCopies:
    """Copies of a template database for one test each, made ahead and dropped afterwards on
    threads of their own: the PostgreSQL server copies (a tenth of a second: its catalogs alone
    are 7 MB) while tests run."""

    def __init__(self, server_url: str, template: str, ahead: int = 3, threads: int = 2) -> None:
        self.server_url, self.template, self.ahead = server_url, template, ahead
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._used: queue.Queue[str | None] = queue.Queue()
        # A copy is mostly waiting on the server's file work: two at once make more per second.
        self._threads = [
            threading.Thread(target=self._work, name=f"database-copies-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def take(self) -> str:
        made = self._ready.get(timeout=120)
        if isinstance(made, BaseException):
            raise made
        return made

    def give_back(self, url: str) -> None:
        """Drop `url` (soon)."""
        self._used.put(url)

    def close(self) -> None:
        for _ in self._threads:
            self._used.put(None)
        for thread in self._threads:
            thread.join(timeout=60)

    def _work(self) -> None:
        try:
            with _admin(self.server_url) as conn:
                while True:
                    # Drop what tests gave back; copy when a copy is missing, else wait.
                    try:
                        enough = self._ready.qsize() >= self.ahead
                        used = self._used.get(block=enough, timeout=0.1)
                    except queue.Empty:
                        used = ""
                    if used is None:
                        return
                    if used:
                        _drop(conn, used)
                    elif self._ready.qsize() < self.ahead:
                        self._ready.put(_create(conn, self.server_url, self.template))
        except BaseException as error:  # the test that waits for a copy fails with it
            self._ready.put(error)

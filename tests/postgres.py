"""A throwaway PostgreSQL server for the test session, started from Debian's binaries.

initdb refuses to run as root, so as root the server runs as the `postgres` account, in a data
directory that account can reach (see TOOLCHAIN.md).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
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


def fresh_database(server_url: str, template: str | None = None) -> str:
    """A new database on the server at `server_url`, empty or a copy of `template` (a database
    no one is connected to); its URL."""
    name = f"blocks_test_{next(_database_numbers)}"
    copy_of = f' TEMPLATE "{template}"' if template else ""
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"{copy_of}')
    return f"{server_url}/{name}"


def drop_database(url: str) -> None:
    """Drop the database at `url`, ending its sessions (a server may still hold some)."""
    server_url, name = url.rsplit("/", 1)
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

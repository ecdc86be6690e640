"""A database outage: PostgreSQL stopped and started again under load. Every request gets a
2xx or a clear 503, every acknowledged grid is there afterwards, and the server recovers by
itself, with no restart. And idle connections go back to the database."""

from __future__ import annotations

import asyncio
import collections
import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from jupyter_blocks import db
from jupyter_blocks.models import Grid
from tests.postgres import PostgresServer
from tests.utils import make_payload


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own, so that stopping it disturbs no other test."""
    server = PostgresServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def db_url(own_postgres: PostgresServer) -> str:
    with psycopg.connect(own_postgres.url.replace("+psycopg", "") + "/postgres") as conn:
        conn.autocommit = True
        conn.execute("DROP DATABASE IF EXISTS blocks_outage")
        conn.execute("CREATE DATABASE blocks_outage")
    return f"{own_postgres.url}/blocks_outage"


ROUTES = {
    "post": ("POST", ("blocks", "api", "grids")),
    "protocol post": ("POST", ("blocks", "post")),
    "list": ("GET", ("blocks", "api", "grids")),
    "gallery": ("GET", ("blocks", "")),
    "random": ("GET", ("blocks", "random")),
}


@pytest.mark.postgresql
async def test_an_outage_answers_503_and_the_server_recovers_without_a_restart(
    jp_fetch: Any, blocks_app: Any, own_postgres: PostgresServer
) -> None:
    acknowledged: list[str] = []
    answers: collections.Counter[tuple[str, int]] = collections.Counter()
    outage_bodies: list[tuple[str, str]] = []
    done = asyncio.Event()
    deadline = time.monotonic() + 60

    async def client(number: int) -> None:
        for request in range(400):
            if done.is_set() or time.monotonic() > deadline:
                return
            name = list(ROUTES)[(number + request) % len(ROUTES)]
            method, parts = ROUTES[name]
            body = json.dumps(make_payload()) if method == "POST" else None
            response = await jp_fetch(
                *parts, method=method, body=body, raise_error=False, follow_redirects=False
            )
            answers[(name, response.code)] += 1
            if response.code == 503:
                outage_bodies.append((response.headers["Content-Type"], response.body.decode()))
            elif name == "post" and response.code == 201:
                acknowledged.append(json.loads(response.body)["id"])
            elif name == "protocol post" and response.code == 200:
                acknowledged.append(json.loads(response.body)["url"].rsplit("/", 1)[1])
            await asyncio.sleep(0.02)

    clients = [asyncio.ensure_future(client(number)) for number in range(4)]
    await asyncio.sleep(1.5)
    before = len(acknowledged)
    await asyncio.to_thread(own_postgres.stop)
    await asyncio.sleep(2)
    await asyncio.to_thread(own_postgres.start)
    await asyncio.sleep(3)
    done.set()
    await asyncio.gather(*clients)

    codes = {code for _, code in answers}
    assert codes <= {200, 201, 303, 404, 503}, answers
    assert all(code != 404 for (name, code) in answers if name != "random"), answers
    assert any(code == 503 for _, code in answers), "the outage was never seen"
    assert before > 0 and len(acknowledged) > before, "no posts before or after the outage"
    for content_type, body in outage_bodies:
        if content_type.startswith("application/json"):
            assert json.loads(body) == {
                "message": json.loads(body)["message"],
                "errors": [],
            }
            assert "database is not reachable" in json.loads(body)["message"]
        else:
            assert "database is not reachable" in body

    # the same server, no restart: every acknowledged grid is there, and posting works
    for grid_id in acknowledged:
        assert (await jp_fetch("blocks", "api", "grids", grid_id, raise_error=False)).code == 200
    again = await jp_fetch("blocks", "api", "grids", method="POST", body=json.dumps(make_payload()))
    assert again.code == 201
    with blocks_app.database.engine.connect() as connection:
        rows = connection.scalar(sa.select(sa.func.count()).select_from(Grid))
    assert rows >= len(acknowledged) + 1


@pytest.mark.postgresql
def test_an_idle_server_gives_its_connections_back(db_url: str) -> None:
    engine = db.create_engine(db_url, pool_size=3, idle_timeout=0.5)
    try:
        with engine.connect() as connection:
            ours = connection.scalar(sa.text("SELECT pg_backend_pid()"))
        assert engine.pool.checkedin() == 1  # pooled, and open on the server...
        time.sleep(1.5)
        with psycopg.connect(db_url.replace("+psycopg", "")) as watcher:
            alive = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [ours]
            ).fetchone()
        assert alive == (0,)  # ...until it was idle too long
        with engine.connect() as connection:  # the pool notices and connects again
            assert connection.scalar(sa.text("SELECT 1")) == 1
    finally:
        engine.dispose()


class TestBusySQLite:
    """SQLite's outage: another process holding the write lock past the busy timeout."""

    @pytest.fixture
    def db_url(self, tmp_path: Any) -> str:
        return f"sqlite:///{tmp_path / 'blocks.sqlite'}"

    async def test_a_write_locked_out_answers_503_and_succeeds_once_the_lock_is_gone(
        self, jp_fetch: Any, db_url: str
    ) -> None:
        body = json.dumps(make_payload())
        await jp_fetch("blocks", "api", "grids", method="POST", body=body)
        other_process = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            other_process.execute("BEGIN EXCLUSIVE")
            refused = await jp_fetch(
                "blocks", "api", "grids", method="POST", body=body, raise_error=False
            )
            assert refused.code == 503
            assert refused.headers["Retry-After"] == "5"
            assert "database is not reachable" in json.loads(refused.body)["message"]
            listing = await jp_fetch("blocks", "api", "grids")  # reading still works (WAL)
            assert len(json.loads(listing.body)["items"]) == 1
        finally:
            other_process.execute("ROLLBACK")
            other_process.close()
        accepted = await jp_fetch("blocks", "api", "grids", method="POST", body=body)
        assert accepted.code == 201

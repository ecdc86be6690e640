"""Every post is answered with its own grid: bursts of concurrent posts over real HTTP, on both
routes (the ipythonblocks protocol's `blocks/post` and the JSON API's `blocks/api/grids`),
public and secret, right at start-up, in steady state, and (PostgreSQL) right after the
server's database connections were cut. Each request carries a grid no other one has and a
title of its own; every answer is checked against what that request sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from tornado.httpclient import HTTPClientError, HTTPResponse
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from jupyter_blocks.handlers import base
from tests.utils import make_payload

BURST = 48
BURSTS = 4
STAGGER_SECONDS = 0.0005


def unique_payload(number: int, secret: bool) -> dict[str, Any]:
    """A 4x3 grid whose first block encodes `number`, titled by it."""
    payload = make_payload(width=4, height=3, secret=secret, title=f"post {number}")
    payload["grid_data"]["blocks"][0][0] = [number % 256, number // 256 % 256, 7, 20]
    return payload


class Client:
    """Requests to the test server from the test's event loop, as many at once as asked."""

    def __init__(self, port: int, base_url: str, token: str) -> None:
        self.root = f"http://127.0.0.1:{port}{base_url}"
        self.headers = {"Authorization": f"token {token}"}
        self.http = SimpleAsyncHTTPClient(force_instance=True, max_clients=2 * BURST)

    async def fetch(
        self, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> HTTPResponse:
        try:
            return await self.http.fetch(
                self.root + path,
                headers={**self.headers, **(headers or {})},
                request_timeout=120,
                **kwargs,
            )
        except HTTPClientError as error:
            assert error.response is not None, error
            return error.response

    async def read(self, path: str) -> Any:
        """GET `path`'s JSON, asked again while the database is briefly unavailable (503)."""
        for _ in range(5):
            answer = await self.fetch(path)
            if answer.code != 503:
                assert answer.code == 200, (path, answer.code, answer.body)
                return json.loads(answer.body)
            await asyncio.sleep(0.2)
        raise AssertionError(f"{path} stayed unavailable")

    async def post_once(self, body: str, key: str) -> HTTPResponse:
        """POST `body` to the API with `Idempotency-Key: key`, answered whatever its status."""
        return await self.fetch(
            "blocks/api/grids",
            method="POST",
            body=body,
            headers={"Idempotency-Key": key},
        )


@pytest.fixture
def client(http_server: Any, jp_http_port: int, jp_base_url: str, jp_serverapp: Any) -> Any:
    made = Client(jp_http_port, jp_base_url, jp_serverapp.identity_provider.token)
    yield made
    made.http.close()


async def post_and_check(client: Client, number: int, allow_unavailable: bool = False) -> str:
    """Post grid `number` (even: through the protocol, odd: through the API; every third one
    secret) and check that the answer names that very grid. Returns "stored" or, when allowed,
    "unavailable" (a 503 whose outcome a retry settles)."""
    secret = number % 3 == 0
    payload = unique_payload(number, secret)
    protocol = number % 2 == 0
    path = "blocks/post" if protocol else "blocks/api/grids"
    answer = await client.fetch(path, method="POST", body=json.dumps(payload))
    if allow_unavailable and answer.code == 503:
        assert json.loads(answer.body)["message"]
        return "unavailable"
    assert answer.code == (200 if protocol else 201), answer.body
    body = json.loads(answer.body)  # every answer is valid JSON
    url = body["url"]
    page = urlsplit(url).path
    assert ("/blocks/secret/" in page) == secret, (number, url)
    grid_id = page.rstrip("/").rsplit("/", 1)[1]
    if not protocol:
        assert body["title"] == payload["title"], (number, body["title"])
        assert body["grid_data"] == payload["grid_data"], number
        assert body["id"] == grid_id
    stored = await client.read(f"blocks/get/{'secret/' if secret else ''}{grid_id}")
    assert stored == payload["grid_data"], (number, grid_id)
    record = await client.read(f"blocks/api/grids/{grid_id}")
    assert record["title"] == payload["title"], (number, grid_id)
    return "stored"


@contextmanager
def write_lock_held(db_url: str) -> Iterator[None]:
    """Another connection holds the database's write lock (reads go on) until the block ends."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as blocker:
            if engine.dialect.name == "postgresql":
                blocker.execute(sa.text("LOCK TABLE grids IN EXCLUSIVE MODE"))
            else:
                blocker.exec_driver_sql("BEGIN IMMEDIATE")
            yield
            blocker.rollback()
    finally:
        engine.dispose()


async def burst(client: Client, first: int, allow_unavailable: bool = False) -> list[str]:
    """BURST posts, each checked against what it sent, released over a few milliseconds: some
    arrive while the server is still busy with the first ones."""

    async def staggered(n: int) -> str:
        await asyncio.sleep(n * STAGGER_SECONDS)
        return await post_and_check(client, first + n, allow_unavailable)

    return await asyncio.gather(*(staggered(n) for n in range(BURST)))


async def test_bursts_of_posts_are_each_answered_with_their_own_grid(client: Client) -> None:
    # the first burst reaches a server that has served nothing yet
    for round_ in range(BURSTS):
        assert await burst(client, round_ * BURST) == ["stored"] * BURST
    listed = await client.read("blocks/api/grids?limit=100&q=post")
    titles = [item["title"] for item in listed["items"]]
    public = {f"post {n}" for n in range(BURSTS * BURST) if n % 3}
    assert len(titles) == len(set(titles)) and set(titles) <= public


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_posts_right_after_the_database_connections_were_cut_get_their_own_grid_or_a_503(
    client: Client, db_url: str
) -> None:
    await burst(client, 0)
    engine = sa.create_engine(db_url)
    with engine.connect() as connection:
        cut = connection.scalar(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'jupyter-blocks' AND pid <> pg_backend_pid()"
            )
        )
    engine.dispose()
    assert cut and cut > 0
    outcomes = await burst(client, BURST, allow_unavailable=True)
    assert "stored" in outcomes
    assert await burst(client, 2 * BURST) == ["stored"] * BURST


async def test_a_post_not_stored_in_time_is_a_503_that_a_retry_with_its_key_settles(
    client: Client, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another connection holds the database's write lock, a post waits past its
    deadline: it is answered 503 (its outcome unknown), and is stored once the lock goes. Its
    retry with the same Idempotency-Key gets that one grid; reads go on meanwhile."""
    monkeypatch.setattr(base, "POST_DEADLINE_SECONDS", 0.5)
    body = json.dumps(unique_payload(1, secret=False))
    with write_lock_held(db_url):
        late = await client.post_once(body, "slow-1")
        assert late.code == 503, late.body
        assert late.headers["Retry-After"]
        assert "Idempotency-Key" in json.loads(late.body)["message"]
        assert (await client.read("blocks/api/grids"))["items"] == []
    monkeypatch.setattr(base, "POST_DEADLINE_SECONDS", 30.0)
    retried = await client.post_once(body, "slow-1")
    assert retried.code == 201
    listed = (await client.read("blocks/api/grids"))["items"]
    assert [item["id"] for item in listed] == [json.loads(retried.body)["id"]]

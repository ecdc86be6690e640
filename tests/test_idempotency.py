"""`Idempotency-Key`: a retried post (same author, same key) gets the first grid, never a second."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import sqlalchemy as sa

from jupyter_blocks.models import Grid
from tests.utils import make_payload

pytestmark = pytest.mark.shared_server

POSTS = {
    "json api": (("blocks", "api", "grids"), 201),
    "protocol": (("blocks", "post"), 200),
}


def stored(blocks_app: Any) -> int:
    with blocks_app.database.engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(Grid)))


async def post(jp_fetch: Any, route: str, key: str | None, **changes: Any) -> Any:
    parts, _ = POSTS[route]
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await jp_fetch(
        *parts,
        method="POST",
        body=json.dumps(make_payload(**changes)),
        headers=headers,
        raise_error=False,
    )


@pytest.mark.parametrize("route", POSTS)
async def test_a_retry_with_the_same_key_returns_the_first_grid(
    jp_fetch: Any, blocks_app: Any, route: str
) -> None:
    first = await post(jp_fetch, route, "retry-1")
    again = await post(jp_fetch, route, "retry-1")
    assert first.code == again.code == POSTS[route][1]
    assert json.loads(first.body) == json.loads(again.body)
    other = await post(jp_fetch, route, "retry-2")
    unkeyed = [await post(jp_fetch, route, None) for _ in range(2)]
    assert json.loads(other.body) != json.loads(first.body)
    assert json.loads(unkeyed[0].body) != json.loads(unkeyed[1].body)
    assert stored(blocks_app) == 4


async def test_the_same_key_from_another_author_is_another_grid(
    jp_fetch: Any, blocks_app: Any
) -> None:
    mine = json.loads((await post(jp_fetch, "json api", "k")).body)
    blocks_app.default_author = "someone else"
    theirs = json.loads((await post(jp_fetch, "json api", "k")).body)
    assert mine["id"] != theirs["id"]
    assert theirs["author"] == "someone else"


async def test_concurrent_retries_make_one_grid(jp_fetch: Any, blocks_app: Any) -> None:
    answers = await asyncio.gather(*(post(jp_fetch, "json api", "race") for _ in range(8)))
    assert {answer.code for answer in answers} == {201}
    assert len({json.loads(answer.body)["id"] for answer in answers}) == 1
    assert stored(blocks_app) == 1


@pytest.mark.parametrize(
    ("key", "problem"),
    [("x" * 201, "characters"), ("", "characters")],
    ids=["too long", "empty"],
)
async def test_a_bad_key_is_a_400_and_nothing_is_stored(
    jp_fetch: Any, blocks_app: Any, key: str, problem: str
) -> None:
    for route in POSTS:
        response = await post(jp_fetch, route, key)
        assert response.code == 400
        error = json.loads(response.body)
        assert error["errors"][0]["path"] == "Idempotency-Key"
        assert problem in error["errors"][0]["message"]
    assert stored(blocks_app) == 0

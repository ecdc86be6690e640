"""Recent reads are served again for `cache_seconds`: this server's own writes show at once,
other servers' writes within `cache_seconds`. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

from jupyter_blocks.ids import GridKey
from jupyter_blocks.read_cache import MAX_ENTRY_BYTES, ReadCache

pytestmark = pytest.mark.shared_server

# Every route that may answer from recent reads, by what it shows of grid `{id}`.
GRID_ROUTES = [
    ("blocks", "get", "{id}"),
    ("blocks", "{id}"),
    ("blocks", "api", "grids", "{id}"),
    ("blocks", "api", "grids", "{id}", "thumbnail.svg"),
    ("blocks", "api", "grids", "{id}", "pixels"),
    ("blocks", "api", "grids", "{id}", "image.png"),
]


async def fetch(jp_fetch: Any, *parts: str, grid_id: str = "", **kwargs: Any) -> Any:
    path = [part.format(id=grid_id) for part in parts]
    return await jp_fetch(*path, raise_error=False, **kwargs)


async def read_everything(jp_fetch: Any, grid_id: str) -> None:
    """Read the grid through every route and list the gallery, so that all of it is kept."""
    for route in GRID_ROUTES:
        assert (await fetch(jp_fetch, *route, grid_id=grid_id)).code == 200
    assert (await fetch(jp_fetch, "blocks", "api", "grids")).code == 200
    assert (await fetch(jp_fetch, "blocks", "")).code == 200


async def listed_titles(jp_fetch: Any) -> dict[str, str | None]:
    listing = json.loads((await fetch(jp_fetch, "blocks", "api", "grids")).body)
    return {item["id"]: item["title"] for item in listing["items"]}


async def page(jp_fetch: Any, grid_id: str) -> str:
    return str((await fetch(jp_fetch, "blocks", "{id}", grid_id=grid_id)).body.decode())


async def test_this_servers_renames_remixes_and_deletes_show_at_once(
    jp_fetch: Any, post_grid: Any
) -> None:
    grid = await post_grid(title="Before")
    await read_everything(jp_fetch, grid["id"])

    renamed = await fetch(
        jp_fetch,
        "blocks",
        "api",
        "grids",
        "{id}",
        grid_id=grid["id"],
        method="PATCH",
        body=json.dumps({"title": "After"}),
    )
    assert renamed.code == 200
    assert "After" in await page(jp_fetch, grid["id"])
    assert (await listed_titles(jp_fetch))[grid["id"]] == "After"
    assert "After" in (await fetch(jp_fetch, "blocks", "")).body.decode()

    remix = await post_grid(title="The remix", parent=grid["id"])
    assert "The remix" in await page(jp_fetch, grid["id"])
    assert remix["id"] in await listed_titles(jp_fetch)

    await read_everything(jp_fetch, grid["id"])
    deleted = await fetch(jp_fetch, "blocks", "api", "grids", "{id}", grid_id=grid["id"])
    assert deleted.code == 200
    deleted = await fetch(
        jp_fetch, "blocks", "api", "grids", "{id}", grid_id=grid["id"], method="DELETE"
    )
    assert deleted.code == 204
    for route in GRID_ROUTES:
        assert (await fetch(jp_fetch, *route, grid_id=grid["id"])).code == 404, route
    assert grid["id"] not in await listed_titles(jp_fetch)
    assert "Remixed from" not in await page(jp_fetch, remix["id"])


async def delete_elsewhere(db_url: str, blocks_app: Any, grid_id: str) -> None:
    """Delete the grid as another server on the same database would."""
    key = blocks_app.ids.decode(grid_id)
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM grids WHERE id = :id"), {"id": key.row_id})
    engine.dispose()


@pytest.mark.parametrize("blocks_config", [{"cache_seconds": 1.0}])
async def test_other_servers_deletes_show_within_cache_seconds(
    jp_fetch: Any, post_grid: Any, db_url: str, blocks_app: Any
) -> None:
    grid = await post_grid()
    await read_everything(jp_fetch, grid["id"])
    read_at = time.monotonic()
    await delete_elsewhere(db_url, blocks_app, grid["id"])

    # still served as read a moment ago, then gone everywhere once that read is a second old
    assert (await fetch(jp_fetch, "blocks", "get", "{id}", grid_id=grid["id"])).code == 200
    await asyncio.sleep(max(0.0, read_at + 1.0 - time.monotonic()) + 0.05)
    for route in GRID_ROUTES:
        assert (await fetch(jp_fetch, *route, grid_id=grid["id"])).code == 404, route
    assert grid["id"] not in await listed_titles(jp_fetch)


@pytest.mark.parametrize("blocks_config", [{"cache_seconds": 0}])
async def test_without_cache_seconds_every_read_sees_other_servers_writes(
    jp_fetch: Any, post_grid: Any, db_url: str, blocks_app: Any
) -> None:
    grid = await post_grid()
    await read_everything(jp_fetch, grid["id"])
    await delete_elsewhere(db_url, blocks_app, grid["id"])
    for route in GRID_ROUTES:
        assert (await fetch(jp_fetch, *route, grid_id=grid["id"])).code == 404, route
    assert grid["id"] not in await listed_titles(jp_fetch)


@pytest.mark.parametrize("blocks_config", [{"cache_seconds": 60}])
async def test_a_secret_grid_is_kept_under_its_secret_id_only(
    jp_fetch: Any, post_grid: Any, blocks_app: Any
) -> None:
    secret = await post_grid(secret=True)
    assert (
        await fetch(jp_fetch, "blocks", "get", "secret", "{id}", grid_id=secret["id"])
    ).code == (200)
    public_id = blocks_app.ids.public(blocks_app.ids.decode(secret["id"]).row_id)
    for route in GRID_ROUTES:
        assert (await fetch(jp_fetch, *route, grid_id=public_id)).code == 404, route


class Reads:
    """Counts reads of the database a ReadCache makes."""

    def __init__(self, value: Any) -> None:
        self.value, self.count = value, 0
        self.started = asyncio.Event()

    async def __call__(self) -> Any:
        self.count += 1
        self.started.set()
        await asyncio.sleep(0)
        return self.value


async def test_an_answer_bigger_than_an_entry_may_be_is_read_every_time() -> None:
    cache, key = ReadCache(60), GridKey(1)
    small, big = Reads("x" * 1000), Reads("x" * (MAX_ENTRY_BYTES + 1))
    for _ in range(3):
        assert await cache.grid("json", key, small) == small.value
        assert await cache.grid("svg", key, big) == big.value
    assert (small.count, big.count) == (1, 3)


async def test_a_read_under_way_across_a_write_is_not_kept() -> None:
    cache = ReadCache(60)
    reads = Reads(["a listing"])
    reading = asyncio.ensure_future(cache.view("listing", reads))
    await reads.started.wait()
    cache.wrote()
    assert await reading == ["a listing"]
    await cache.view("listing", reads)
    await cache.view("listing", reads)
    assert reads.count == 2


async def test_a_write_before_an_asked_for_read_starts_is_not_an_error() -> None:
    """The read starts a turn of the event loop after it is asked for: a write in between
    (a post answered in that turn) neither breaks it nor lets it be kept."""
    cache, reads = ReadCache(60), Reads(["a listing"])
    reading = asyncio.ensure_future(cache.view("listing", reads))
    await asyncio.sleep(0)  # asked for, not started
    assert not reads.started.is_set()
    cache.wrote()
    assert await reading == ["a listing"]
    await cache.view("listing", reads)
    assert reads.count == 2


async def test_text_of_the_request_in_a_key_counts_against_the_bound() -> None:
    """A hostile client's megabyte-long search or Host header cannot fill memory with keys."""
    cache, reads = ReadCache(60), Reads(["no grid"])
    key = ("listing", 24, None, "a" * MAX_ENTRY_BYTES, None)
    await cache.view(key, reads)
    await cache.view(key, reads)
    assert reads.count == 2


async def test_requests_for_what_is_being_read_share_that_read() -> None:
    cache, reads = ReadCache(60), Reads("x" * (MAX_ENTRY_BYTES + 1))  # too big to keep
    together = await asyncio.gather(*(cache.grid("json", GridKey(1), reads) for _ in range(5)))
    assert reads.count == 1 and all(value is together[0] for value in together)
    await cache.grid("json", GridKey(1), reads)
    assert reads.count == 2  # not kept: read again once the shared read is over


async def test_a_request_after_a_write_does_not_share_a_read_from_before_it() -> None:
    cache, reads = ReadCache(60), Reads(["a listing"])
    before = asyncio.ensure_future(cache.view("listing", reads))
    await reads.started.wait()
    cache.wrote()
    after = asyncio.ensure_future(cache.view("listing", reads))
    await asyncio.gather(before, after)
    assert reads.count == 2


async def test_what_is_not_found_is_not_kept() -> None:
    cache, reads = ReadCache(60), Reads(None)
    assert await cache.grid("json", GridKey(1), reads) is None
    assert await cache.grid("json", GridKey(1), reads) is None
    assert reads.count == 2


async def test_kept_answers_stay_within_the_bound() -> None:
    cache = ReadCache(60, max_bytes=4 * MAX_ENTRY_BYTES)
    first = Reads("y" * (MAX_ENTRY_BYTES // 2))
    await cache.grid("json", GridKey(0), first)
    for row_id in range(1, 20):
        await cache.grid("json", GridKey(row_id), Reads("y" * (MAX_ENTRY_BYTES // 2)))
    await cache.grid("json", GridKey(0), first)
    assert first.count == 2  # the oldest was dropped to make room

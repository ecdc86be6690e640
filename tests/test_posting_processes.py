"""Posts are checked and stored by posting processes (`jupyter_blocks.posting`): they answer
posts in the order sent, say precisely what is wrong with a body, do not preempt the event loop,
stop with the server, and a server whose posting process died starts a new one."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_blocks import db
from jupyter_blocks.posting import (
    FILL_BEFORE_THE_NEXT,
    Post,
    Posting,
    PostingSettings,
    ProcessStopped,
    share_connections,
)
from jupyter_blocks.validation import InvalidPayload, Limits
from tests.utils import make_payload


def body(**changes: Any) -> bytes:
    return json.dumps(make_payload(**changes)).encode()


@pytest.fixture
def posting(db_url: str) -> Iterator[Posting]:
    engine = db.create_engine(db_url)
    db.upgrade(engine)
    engine.dispose()
    started = Posting(
        PostingSettings(db_url, Limits(), "salt", 6), share_connections(db_url, 10)[1]
    )
    yield started
    started.close()


def posting_processes() -> list[multiprocessing.process.BaseProcess]:
    return [
        process
        for process in multiprocessing.active_children()
        if process.name == "jupyter-blocks-posting"
    ]


async def test_posts_sent_together_are_each_answered_with_their_own_grid(
    posting: Posting,
) -> None:
    titles = [f"grid {n}" for n in range(40)]
    grids = await asyncio.gather(
        *(posting.post(Post(body(title=title), "ada", None, whole=False)) for title in titles)
    )
    assert [grid.title for grid in grids] == titles
    assert len({grid.id for grid in grids}) == len(titles)
    assert all(grid.author == "ada" and grid.grid_json == "" for grid in grids)
    whole = await posting.post(Post(body(width=4, height=2), "ada", None, whole=True))
    assert json.loads(whole.grid_json) == make_payload(width=4, height=2)["grid_data"]


async def test_a_refused_post_says_what_is_wrong_and_the_next_is_stored(
    posting: Posting,
) -> None:
    with pytest.raises(InvalidPayload) as refused:
        await posting.post(Post(body(ipb_class="Nope"), "ada", None, whole=False))
    assert [error.path for error in refused.value.errors] == ["ipb_class"]
    with pytest.raises(InvalidPayload) as unknown_parent:
        await posting.post(Post(body(parent="AAAAAAAA"), "ada", None, whole=False))
    assert [error.path for error in unknown_parent.value.errors] == ["parent"]
    stored = await posting.post(Post(body(title="fine"), "ada", None, whole=False))
    assert stored.title == "fine"


async def test_a_posting_process_that_dies_fails_its_posts_and_is_replaced(
    posting: Posting,
) -> None:
    await posting.post(Post(body(), "ada", None, whole=False))
    big = body(width=500, height=500)
    sent = asyncio.ensure_future(posting.post(Post(big, "ada", None, whole=False)))
    await asyncio.sleep(0.05)  # it is reading or checking the body
    for process in posting_processes():
        os.kill(process.pid, signal.SIGKILL)
    with pytest.raises(ProcessStopped):
        await sent
    for process in posting_processes():
        process.join()
    again = await posting.post(Post(body(title="after"), "ada", None, whole=False))
    assert again.title == "after"


async def test_posting_processes_stop_with_the_server(posting: Posting) -> None:
    await posting.post(Post(body(), "ada", None, whole=False))
    running = posting_processes()
    assert running and all(process.pid != os.getpid() for process in running)
    posting.close()
    assert not any(process.is_alive() for process in running)


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
async def test_a_posting_process_does_not_preempt_the_event_loop(posting: Posting) -> None:
    # posts sent together, enough for every process to take some
    count = FILL_BEFORE_THE_NEXT * len(posting_processes())
    posts = (posting.post(Post(body(), "ada", None, whole=False)) for _ in range(count))
    await asyncio.gather(*posts)
    assert {os.sched_getscheduler(process.pid) for process in posting_processes()} == {
        os.SCHED_BATCH
    }


async def test_small_posts_fill_one_process_before_the_next_and_big_ones_go_to_the_least_busy(
    posting: Posting,
) -> None:
    if len(posting_processes()) < 3:
        pytest.skip("SQLite is written by one posting process")
    small = [
        asyncio.ensure_future(posting.post(Post(body(title=f"{n}"), "ada", None, whole=False)))
        for n in range(FILL_BEFORE_THE_NEXT + 2)
    ]
    await asyncio.sleep(0)  # each has been handed to a process, none answered yet
    assert [process.waiting for process in posting._processes] == [FILL_BEFORE_THE_NEXT, 2, 0]
    big = Post(body(width=200, height=200), "ada", None, whole=False)
    sent_big = asyncio.ensure_future(posting.post(big))
    await asyncio.sleep(0)
    assert [process.waiting for process in posting._processes] == [FILL_BEFORE_THE_NEXT, 2, 1]
    stored = await asyncio.gather(*small, sent_big)
    assert [grid.title for grid in stored[:-1]] == [f"{n}" for n in range(len(small))]
    assert (stored[-1].width, stored[-1].height) == (200, 200)


@pytest.mark.parametrize("route", [("blocks", "post"), ("blocks", "api", "grids")])
async def test_posts_are_stored_after_a_posting_process_died(
    jp_fetch: Any, route: tuple[str, ...]
) -> None:
    response = await jp_fetch(*route, method="POST", body=body(title="first"))
    assert response.code in (200, 201)
    for process in posting_processes():
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    await asyncio.sleep(0.5)  # the server sees its socket to the process closed
    for title in ("after", "and after"):
        response = await jp_fetch(*route, method="POST", body=body(title=title))
        assert response.code in (200, 201)
    listing = json.loads((await jp_fetch("blocks", "api", "grids")).body)
    assert [grid["title"] for grid in listing["items"]] == ["and after", "after", "first"]


@pytest.mark.parametrize(
    "connections,shared",
    [(10, (7, 3)), (20, (17, 3)), (6, (4, 2)), (2, (1, 1)), (1, (1, 1))],
)
def test_posting_processes_hold_their_share_of_the_servers_connections(
    connections: int, shared: tuple[int, int]
) -> None:
    """`db_pool_size` bounds the PostgreSQL connections of a server and its posting processes
    (one each), however small; SQLite has one posting process and no such bound."""
    assert share_connections("postgresql+psycopg://u@h/blocks", connections) == shared
    assert share_connections("sqlite:////tmp/blocks.sqlite", connections) == (connections, 1)


async def test_renames_and_deletes_are_not_refused_while_posts_are_stored(
    jp_fetch: Any,
) -> None:
    """On SQLite the server and its posting process both write: a rename or delete that reads
    the grid and then writes must wait for a post's commit, never fail on it (a 503)."""

    async def grid(title: str) -> str:
        response = await jp_fetch("blocks", "api", "grids", method="POST", body=body(title=title))
        return str(json.loads(response.body)["id"])

    async def keep_posting() -> int:
        posted = 0
        while not done.is_set():
            await asyncio.gather(*(grid("filler") for _ in range(8)))
            posted += 8
        return posted

    done = asyncio.Event()
    posting = asyncio.ensure_future(keep_posting())
    codes = []
    for n in range(30):
        grid_id = await grid(f"to change {n}")
        for method, change in (("PATCH", json.dumps({"title": "renamed"})), ("DELETE", None)):
            response = await jp_fetch(
                "blocks", "api", "grids", grid_id, method=method, body=change, raise_error=False
            )
            codes.append(response.code)
    done.set()
    assert await posting > 0
    assert set(codes) <= {200, 204}, codes


async def test_a_post_whose_process_stops_answers_503_and_the_next_is_stored(
    jp_fetch: Any,
) -> None:
    await jp_fetch("blocks", "api", "grids", method="POST", body=body(title="first"))
    processes = posting_processes()
    for process in processes:
        os.kill(process.pid, signal.SIGSTOP)  # it takes the next post, and never answers
    cut_short = asyncio.ensure_future(
        jp_fetch("blocks", "post", method="POST", body=body(title="lost"), raise_error=False)
    )
    await asyncio.sleep(0.5)  # handed to a stopped process
    for process in processes:
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    response = await cut_short
    assert response.code == 503
    assert response.headers["Retry-After"] == "5"
    assert json.loads(response.body) == {
        "message": "Storing the grid was cut short: its process stopped. Try again shortly.",
        "errors": [],
    }
    again = await jp_fetch("blocks", "post", method="POST", body=body(title="again"))
    assert again.code == 200

"""`jupyter blocks serve` checks and stores posts in worker processes (`post_workers`): bursts of
concurrent posts are each answered with their own grid, also right after a worker is killed
(those it had answer 503, outcome unknown, and a new pool takes the next posts), and a post that
outlives its deadline tears the pool down, answers 503, and its retry with the same
Idempotency-Key settles it."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from typing import Any

import pytest

from jupyter_blocks.handlers import base
from tests.test_concurrent_posts import (
    BURST,
    Client,
    burst,
    client,
    unique_payload,
    write_lock_held,
)

__all__ = ["client"]  # the fixture, shared with test_concurrent_posts


@pytest.fixture
def blocks_config() -> dict[str, Any]:
    # as `jupyter blocks serve` runs (hub.server.service_config), with two workers
    return {"hub_service": True, "post_processes": 2}


def workers_of(blocks_app: Any) -> list[int]:
    """The pids of the post workers running now."""
    pool = blocks_app.post_workers._pool
    return [] if pool is None else sorted(getattr(pool, "_processes", {}))


async def test_bursts_are_each_answered_with_their_own_grid_by_worker_processes(
    client: Client, blocks_app: Any
) -> None:
    for round_ in range(3):
        assert await burst(client, round_ * BURST) == ["stored"] * BURST
    workers = workers_of(blocks_app)
    assert len(workers) == 2 and os.getpid() not in workers
    assert {child.pid for child in multiprocessing.active_children()} >= set(workers)


async def test_posts_right_after_a_worker_is_killed_get_their_own_grid_or_a_503(
    client: Client, blocks_app: Any
) -> None:
    await burst(client, 0)
    killed = workers_of(blocks_app)[0]
    os.kill(killed, signal.SIGKILL)
    outcomes = await burst(client, BURST, allow_unavailable=True)
    assert set(outcomes) <= {"stored", "unavailable"}
    assert await burst(client, 2 * BURST) == ["stored"] * BURST
    assert killed not in workers_of(blocks_app)


async def test_a_post_past_its_deadline_tears_the_pool_down_and_its_retry_settles_it(
    client: Client, blocks_app: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await burst(client, 0)
    before = workers_of(blocks_app)
    monkeypatch.setattr(base, "POST_DEADLINE_SECONDS", 1.0)
    body = json.dumps(unique_payload(10_000, secret=False))
    with write_lock_held(db_url):
        late = await client.post_once(body, "wedged-1")
        assert late.code == 503, late.body
        assert "Idempotency-Key" in json.loads(late.body)["message"]
    monkeypatch.setattr(base, "POST_DEADLINE_SECONDS", 30.0)
    retried = await client.post_once(body, "wedged-1")
    assert retried.code == 201
    assert not set(before) & set(workers_of(blocks_app))  # a new pool
    listed = await client.read("blocks/api/grids?q=post%2010000")
    assert [item["id"] for item in listed["items"]] == [json.loads(retried.body)["id"]]

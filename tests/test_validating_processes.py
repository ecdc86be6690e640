"""Big bodies are validated in worker processes (`validation.start_worker`): they make what the
server's own validator makes, they do not preempt the event loop, and a server whose worker
died starts new ones instead of failing every big post from then on."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from jupyter_blocks.validation import Limits, PayloadValidator, start_worker, validate_in_worker
from tests.utils import make_payload


@pytest.fixture(scope="module")
def worker() -> Iterator[ProcessPoolExecutor]:
    """One validating process, started as the server starts them."""
    with ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_worker,
        initargs=(Limits(),),
    ) as pool:
        yield pool


def big_body(**changes: Any) -> bytes:
    """A body over the 64 KiB from which the server validates in a worker process."""
    body = json.dumps(make_payload(width=150, height=150, **changes)).encode()
    assert len(body) > 64 * 1024
    return body


def test_a_worker_process_makes_what_the_server_makes(worker: ProcessPoolExecutor) -> None:
    body = big_body(title="Made elsewhere")
    assert worker.submit(validate_in_worker, body).result() == PayloadValidator(Limits()).validate(
        body
    )


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_a_worker_process_does_not_preempt_the_event_loop(worker: ProcessPoolExecutor) -> None:
    assert worker.submit(os.sched_getscheduler, 0).result() == os.SCHED_BATCH


@pytest.mark.parametrize("route", [("blocks", "post"), ("blocks", "api", "grids")])
async def test_big_posts_are_stored_after_a_validating_process_died(
    jp_fetch: Any, route: tuple[str, ...]
) -> None:
    before = set(multiprocessing.active_children())
    response = await jp_fetch(*route, method="POST", body=big_body(title="first"))
    assert response.code in (200, 201)
    started = set(multiprocessing.active_children()) - before
    assert started, "the big post was validated in a worker process"
    for process in started:
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    for title in ("after", "and after"):
        response = await jp_fetch(*route, method="POST", body=big_body(title=title))
        assert response.code in (200, 201)
    listing = json.loads((await jp_fetch("blocks", "api", "grids")).body)
    assert [grid["title"] for grid in listing["items"]] == ["and after", "after", "first"]

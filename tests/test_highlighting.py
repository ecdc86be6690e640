"""Code on grid pages: highlighted within a hard budget, off the event loop, cached per grid."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from jupyter_blocks import render
from tests.utils import make_payload

# Inputs on which pygments' Python lexer is quadratic, as found in issue 13.
PATHOLOGICAL = {
    "spaces and newlines": " \n" * 50_000,
    "tabs, newlines, spaces": "\t\n " * 33_333,
    "an unclosed docstring": '"""' + " \n" * 49_998,
}


def test_short_code_is_highlighted_and_escaped() -> None:
    html = render.highlighted_code("x = '<b>'")
    assert '<span class="n">x</span>' in html
    assert "&lt;b&gt;" in html and "<b>" not in html


@pytest.mark.parametrize("source", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_code_over_the_size_limit_is_shown_plain_at_once(source: str) -> None:
    started = time.monotonic()
    html = render.highlighted_code(source)
    assert time.monotonic() - started < 0.5
    assert html == render.plain_code(source)


@pytest.mark.parametrize("source", [" \n" * 5_000, "\t\n " * 3_333], ids=["spaces", "tabs"])
def test_highlighting_stops_at_its_time_budget(source: str) -> None:
    """Under the size limit these still take seconds to lex: the budget cuts them short."""
    cell = source
    started = time.monotonic()
    html = render.highlighted_code(cell, deadline=time.monotonic() + 0.05)
    assert time.monotonic() - started < 0.5
    assert html == render.plain_code(cell)


def test_one_budget_covers_all_the_cells_of_a_grid() -> None:
    cells = [" \n" * 4_000] * 50 + ["y = 2"]
    started = time.monotonic()
    html = render.CodeCache().code(1, json.dumps(cells))
    assert time.monotonic() - started < render.HIGHLIGHT_BUDGET_SECONDS + 1
    assert html[-1] == render.plain_code("y = 2")  # the budget was spent before the last cell


def test_the_cache_keeps_recent_grids_within_its_size() -> None:
    cache = render.CodeCache(max_chars=3_000)
    first = cache.code(1, '["a = 1"]')
    assert cache.code(1, '["ignored: grids never change"]') is first
    for row_id in range(2, 40):
        cache.code(row_id, json.dumps([f"b = {row_id}"]))
    assert cache.get(1) is None  # the oldest went first
    assert cache.get(39) is not None
    held = sum(len(cell) for row_id in range(40) for cell in cache.get(row_id) or [])
    assert held <= 3_000


@pytest.mark.parametrize(
    "cells", [None, [], ["x = 1"], ["a", 'b\n"c"\\', "\u00e9\U0001f600"], ["\n"] * 3]
)
def test_stored_code_is_decoded_cell_by_cell_like_json(cells: Any) -> None:
    for text in [
        json.dumps(cells),
        json.dumps(cells, indent=2),
        json.dumps(cells, separators=(",", ":")),
    ]:
        assert render.code_cells_from_json(text) == (cells or [])


@pytest.fixture
def blocks_config() -> dict[str, Any]:
    # room for the largest code a grid may carry: 200 cells of 100,000 characters
    return {"max_body_bytes": 32 * 1024 * 1024}


async def test_a_page_with_the_largest_code_does_not_stall_the_server(jp_fetch: Any) -> None:
    sources = list(PATHOLOGICAL.values())
    cells = [sources[n % len(sources)] for n in range(200)]
    payload = make_payload(code_cells=cells)
    created = await jp_fetch("blocks", "api", "grids", method="POST", body=json.dumps(payload))
    grid_id = json.loads(created.body)["id"]

    async def slowest_status(while_running: asyncio.Task[Any]) -> float:
        slowest = 0.0
        while not while_running.done():
            started = time.monotonic()
            status = await jp_fetch("api", "status")
            assert status.code == 200
            slowest = max(slowest, time.monotonic() - started)
            await asyncio.sleep(0.01)
        return slowest

    for _ in range(2):  # drawn, then from the cache
        view = asyncio.ensure_future(jp_fetch("blocks", grid_id, request_timeout=120))
        slowest = await slowest_status(view)
        page = (await view).body.decode()
        assert slowest < 1.0, f"api/status waited {slowest:.2f} s during a page view"
        assert page.count('<div class="jb-cell">') == 200
        assert page.count("&#34;&#34;&#34;") + page.count("&quot;&quot;&quot;") >= 66

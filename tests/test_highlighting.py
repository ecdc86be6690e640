"""Code on grid pages: highlighted within a hard budget, off the event loop, cached per grid;
at most a page's budget of it shown, the rest in the record."""

from __future__ import annotations

import asyncio
import html
import json
import re
import subprocess
import sys
import time
from typing import Any

import pytest
import sqlalchemy as sa

from jupyter_blocks import render
from tests.utils import make_payload

pytestmark = pytest.mark.shared_server

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


def page_code(cells: list[str]) -> render.PageCode:
    chars = sum(map(len, cells))
    return render.PageCode(cells, len(cells), chars, chars)


def test_one_budget_covers_all_the_cells_of_a_grid() -> None:
    cells = [" \n" * 4_000] * 50 + ["y = 2"]
    started = time.monotonic()
    code = render.CodeCache().highlighted(1, page_code(cells))
    assert time.monotonic() - started < render.HIGHLIGHT_BUDGET_SECONDS + 1
    assert code.cells[-1] == render.plain_code("y = 2")  # the budget was spent before the last
    assert (code.total_cells, code.shown_chars) == (51, sum(map(len, cells)))


def test_the_cache_keeps_recent_grids_within_its_size() -> None:
    cache = render.CodeCache(max_chars=3_000)
    first = cache.highlighted(1, page_code(["a = 1"]))
    assert cache.highlighted(1, page_code(["ignored: grids never change"])) is first
    for row_id in range(2, 40):
        cache.highlighted(row_id, page_code([f"b = {row_id}"]))
    assert cache.get(1) is None  # the oldest went first
    assert cache.get(39) is not None
    held = sum(
        len(cell) for row_id in range(40) for cell in getattr(cache.get(row_id), "cells", [])
    )
    assert held <= 3_000


def test_grids_without_code_count_in_the_cache_too() -> None:
    cache = render.CodeCache(max_chars=100 * render.CODE_CACHE_ENTRY_CHARS)
    for row_id in range(1_000):
        cache.highlighted(row_id, page_code([]))
    assert sum(cache.get(row_id) is not None for row_id in range(1_000)) == 100


def test_code_bigger_than_the_whole_cache_is_shown_but_not_kept() -> None:
    cache = render.CodeCache(max_chars=2 * render.CODE_CACHE_ENTRY_CHARS)
    kept = cache.highlighted(1, page_code(["a = 1"]))
    big = cache.highlighted(2, page_code(["b = 2" * render.CODE_CACHE_ENTRY_CHARS]))
    assert "b" in big.cells[0]
    assert cache.get(2) is None
    assert cache.get(1) is kept  # nothing was dropped to make room for it


@pytest.fixture
def blocks_config() -> dict[str, Any]:
    # room for the largest code a grid may carry: 200 cells of 100,000 characters
    return {"max_body_bytes": 32 * 1024 * 1024}


def cells_on(page: str) -> list[str]:
    """The text of the code cells on a page (pygments ends each with a newline)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).rstrip("\n") for cell in CELL.findall(page)]


CELL = re.compile(
    r'<div class="jb-cell">(.*?)</div>\s*(?=<div class="jb-cell">|<p|</section>)', re.S
)


@pytest.mark.parametrize(
    ("cells", "shown"),
    [
        (["x = 1", "y = 2"], ["x = 1", "y = 2"]),
        (["a" * 60_000, "b" * 60_000, "c"], ["a" * 60_000, "b" * 40_000]),
        (["é" * 100_000, "z = 1"], ["é" * render.PAGE_CODE_CHARS]),
        (["x = 1"] * 200, ["x = 1"] * 200),
    ],
    ids=["short", "cut-in-the-second-cell", "one-full-cell", "many-cells"],
)
async def test_a_page_shows_code_up_to_its_budget_and_says_where_the_rest_is(
    jp_fetch: Any, cells: list[str], shown: list[str]
) -> None:
    created = await jp_fetch(
        "blocks", "api", "grids", method="POST", body=json.dumps(make_payload(code_cells=cells))
    )
    grid_id = json.loads(created.body)["id"]
    page = (await jp_fetch("blocks", grid_id)).body.decode()
    assert cells_on(page) == [cell.rstrip("\n") for cell in shown]
    total = sum(map(len, cells))
    if shown == cells:
        assert "jb-code-more" not in page
    else:
        assert f"the first {sum(map(len, shown)):,} of {total:,} characters" in page
        assert f"({len(shown)} of {len(cells)} cells)" in page
        assert f'/blocks/api/grids/{grid_id}">JSON record</a>' in page


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
        assert len(page) < 2 * render.PAGE_CODE_CHARS
        assert cells_on(page) == [
            (" \n" * 50_000).rstrip("\n")
        ]  # the first cell's first 100,000 characters
        assert "(1 of 200 cells)" in page


PLANTED = {
    "an object": ('{"a": 1}', []),
    "a string": ('"x = 1"', []),
    "a number": ("3", []),
    "null": ("null", []),
    "a list of anything": ('[1, null, ["x"], "ok"]', ["1", "", '["x"]', "ok"]),
    # PostgreSQL cannot make it text (no code shown); SQLite's text functions end at a NUL
    "a NUL": ('["a\\u0000b"]', None),
}


@pytest.mark.parametrize(("stored", "shown"), PLANTED.values(), ids=PLANTED.keys())
async def test_a_page_shows_what_it_can_of_code_written_straight_into_the_database(
    jp_fetch: Any, blocks_app: Any, stored: str, shown: list[str] | None
) -> None:
    created = await jp_fetch(
        "blocks", "api", "grids", method="POST", body=json.dumps(make_payload(code_cells=["y"]))
    )
    grid_id = json.loads(created.body)["id"]
    engine = blocks_app.database.engine
    postgresql = engine.dialect.name == "postgresql"
    value = "CAST(:code AS json)" if postgresql else ":code"
    with engine.begin() as connection:
        connection.execute(sa.text(f"UPDATE grids SET code_cells = {value}"), {"code": stored})
    page = (await jp_fetch("blocks", grid_id)).body.decode()
    if shown is None:
        shown = [] if postgresql else ["a"]
    assert cells_on(page) == shown
    # the grid's record passes the stored list on as it is, and nothing else
    record = json.loads((await jp_fetch("blocks", "api", "grids", grid_id)).body)
    stored_list = json.loads(stored) if stored.startswith("[") else None
    assert record["code_cells"] == stored_list


def test_the_first_pages_drawn_at_once_on_several_threads_all_get_highlighted_code() -> None:
    """Pygments is loaded by the first page that shows code; several pages drawn at once on
    worker threads must not catch it half-imported (a fresh process: it loads it once)."""
    draws = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from jupyter_blocks.render import highlighted_code\n"
        "with ThreadPoolExecutor(8) as threads:\n"
        "    drawn = list(threads.map(lambda n: highlighted_code(f'x = {n}'), range(8)))\n"
        "assert all('<span' in html and 'class=\"n\"' in html for html in drawn), drawn\n"
    )
    for _ in range(3):
        subprocess.run([sys.executable, "-c", draws], check=True, capture_output=True)

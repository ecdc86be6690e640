"""A big grid's HTML page in a real browser: static/grid.js draws every block on the canvas from
the grid's packed pixels, under the page's Content-Security-Policy."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.utils import Server, grid_payload

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lines_on", [True, False])
def test_a_big_grid_page_draws_every_block_on_its_canvas(
    page: Page, lab: Server, lines_on: bool
) -> None:
    payload = grid_payload(7, width=90, height=70)  # 6,300 blocks: drawn on a canvas
    payload["grid_data"]["lines_on"] = lines_on
    blocks = payload["grid_data"]["blocks"]
    blocks[69][89][:3] = [1, 2, 3]  # the last block differs from its neighbours
    grid = lab.post_grid(payload)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(error.message))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.goto(f"{lab.url}blocks/{grid['id']}?token={lab.token}")
    canvas = page.locator('canvas.blockgrid[data-drawn="true"]')
    canvas.wait_for(timeout=15_000)
    cell = 20  # the blocks' size: 90 x 20 px fits the canvas limit
    assert canvas.evaluate("c => [c.width, c.height]") == [90 * cell, 70 * cell]
    centres = [(0, 0), (35, 44), (69, 89)]
    colours = canvas.evaluate(
        """(c, centres) => centres.map(([row, col]) => Array.from(
            c.getContext('2d').getImageData(col * 20 + 10, row * 20 + 10, 1, 1).data.slice(0, 3)
        ))""",
        centres,
    )
    assert colours == [blocks[row][col][:3] for row, col in centres]
    line = canvas.evaluate("c => Array.from(c.getContext('2d').getImageData(20, 10, 1, 1).data)")
    assert (line[:3] == [255, 255, 255]) is lines_on
    assert not problems, problems

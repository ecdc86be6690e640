"""`GET blocks/api/grids/<id>/image.png`: the grid drawn as ipythonblocks draws it, cached by
ETag. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from ipythonblocks import BlockGrid
from PIL import Image

from jupyter_blocks.render import LINE_GREY, MAX_IMAGE_PIXELS
from tests.utils import make_payload

pytestmark = pytest.mark.shared_server


def ipythonblocks_image(grid_data: dict[str, Any]) -> Image.Image:
    """What ipythonblocks itself draws (`BlockGrid.save_image`) for the same grid."""
    blocks = grid_data["blocks"]
    grid = BlockGrid(
        grid_data["width"],
        grid_data["height"],
        block_size=blocks[0][0][3],
        lines_on=grid_data["lines_on"],
    )
    grid._load_simple_grid(blocks)
    out = io.BytesIO()
    grid._write_image(out)
    return Image.open(out).convert("RGB")


async def fetch_png(jp_fetch: Any, grid_id: str, **kwargs: Any) -> Any:
    return await jp_fetch("blocks", "api", "grids", grid_id, "image.png", **kwargs)


@pytest.mark.parametrize("lines_on", [True, False])
@pytest.mark.parametrize("block_size", [1, 7])
async def test_image_is_the_grid_as_ipythonblocks_draws_it(
    jp_fetch: Any, post_grid: Any, lines_on: bool, block_size: int
) -> None:
    payload = make_payload(width=4, height=3)
    for row in payload["grid_data"]["blocks"]:
        for block in row:
            block[3] = block_size
    payload["grid_data"]["lines_on"] = lines_on
    grid = await post_grid(grid_data=payload["grid_data"])
    response = await fetch_png(jp_fetch, grid["id"])
    assert response.headers["Content-Type"] == "image/png"
    ours = Image.open(io.BytesIO(response.body))
    assert ours.format == "PNG"
    theirs = ipythonblocks_image(payload["grid_data"])
    assert ours.size == theirs.size
    step = block_size + 1
    for y in range(ours.height):
        for x in range(ours.width):
            on_a_line = lines_on and (x % step == 0 or y % step == 0)
            # ipythonblocks leaves its lines white; ours are grey, to show on white pages.
            expected = LINE_GREY if on_a_line else theirs.getpixel((x, y))
            assert ours.getpixel((x, y)) == expected, (x, y)


async def test_image_has_an_etag_and_answers_304(jp_fetch: Any, post_grid: Any) -> None:
    grid = await post_grid()
    first = await fetch_png(jp_fetch, grid["id"])
    etag = first.headers["ETag"]
    assert etag
    again = await fetch_png(
        jp_fetch, grid["id"], headers={"If-None-Match": etag}, raise_error=False
    )
    assert again.code == 304
    assert again.body == b""


@pytest.mark.parametrize("grid_id", ["AAAAAA", "nosuchgrid"])
async def test_image_of_an_unknown_grid_is_a_json_404(jp_fetch: Any, grid_id: str) -> None:
    response = await fetch_png(jp_fetch, grid_id, raise_error=False)
    assert response.code == 404
    assert json.loads(response.body) == {"message": f"No grid with id {grid_id!r}", "errors": []}


async def test_a_big_grid_is_drawn_with_smaller_blocks_within_the_pixel_budget(
    jp_fetch: Any, post_grid: Any
) -> None:
    width = height = 300
    payload = make_payload(width=width, height=height)
    for row in payload["grid_data"]["blocks"]:
        for block in row:
            block[3] = 20
    grid = await post_grid(grid_data=payload["grid_data"])
    image = Image.open(io.BytesIO((await fetch_png(jp_fetch, grid["id"])).body))
    assert image.width * image.height <= MAX_IMAGE_PIXELS
    block = (image.width - 1) // width - 1
    assert 1 <= block < 20
    assert image.size == (width * (block + 1) + 1, height * (block + 1) + 1)
    # Block (0, 0) keeps its colour.
    assert image.getpixel((1, 1)) == tuple(payload["grid_data"]["blocks"][0][0][:3])

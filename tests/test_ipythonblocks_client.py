"""The stock ipythonblocks 1.9.1 client, unchanged, posting to and loading from a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import ipythonblocks
import pytest
from ipythonblocks import BlockGrid, ImageGrid
from ipythonblocks import ipythonblocks as ipb_module


@pytest.fixture
def client_pointed_at_server(
    jp_serverapp: Any, http_server: Any, jp_http_port: int, jp_base_url: str
) -> Iterator[None]:
    """What a kernel-side helper does: point the client's URL constants at this server, which
    listens on a real port (`http_server`)."""
    token = jp_serverapp.identity_provider.token
    root = f"http://127.0.0.1:{jp_http_port}{jp_base_url}blocks"
    saved = (ipb_module._POST_URL, ipb_module._GET_URL_PUBLIC, ipb_module._GET_URL_SECRET)
    ipb_module._POST_URL = f"{root}/post?token={token}"
    ipb_module._GET_URL_PUBLIC = f"{root}/get/{{0}}?token={token}"
    ipb_module._GET_URL_SECRET = f"{root}/get/secret/{{0}}?token={token}"
    yield
    ipb_module._POST_URL, ipb_module._GET_URL_PUBLIC, ipb_module._GET_URL_SECRET = saved


def colourful_grid(cls: type[BlockGrid] = BlockGrid, **kwargs: Any) -> BlockGrid:
    grid = cls(7, 5, **kwargs)
    for block in grid:
        block.rgb = ((block.row * 37) % 256, (block.col * 53) % 256, (block.row * block.col) % 256)
    grid[0, 0].size = 12
    return grid


def test_the_installed_client_is_the_one_we_speak_to() -> None:
    assert ipythonblocks.__version__ == "1.9.1"


@pytest.mark.usefixtures("client_pointed_at_server")
async def test_post_to_web_and_from_web_round_trip(jp_fetch: Any) -> None:
    grid = colourful_grid()
    url = await asyncio.to_thread(grid.post_to_web)
    grid_id = url.rsplit("/", 1)[1]
    loaded = await asyncio.to_thread(BlockGrid.from_web, grid_id)
    assert loaded == grid
    assert loaded._to_simple_grid() == grid._to_simple_grid()
    page = await jp_fetch("blocks", grid_id)
    assert "rgb(37, 53, 1)" in page.body.decode()  # block (1, 1)


@pytest.mark.usefixtures("client_pointed_at_server")
async def test_secret_grid_round_trip_and_stays_unlisted(jp_fetch: Any) -> None:
    grid = colourful_grid(lines_on=False)
    url = await asyncio.to_thread(grid.post_to_web, secret=True)
    assert "/blocks/secret/" in url
    grid_id = url.rsplit("/", 1)[1]
    loaded = await asyncio.to_thread(BlockGrid.from_web, grid_id, secret=True)
    assert loaded == grid and loaded.lines_on is False
    listing = json.loads((await jp_fetch("blocks", "api", "grids")).body)
    assert listing["items"] == []


@pytest.mark.usefixtures("client_pointed_at_server")
async def test_image_grid_round_trip(jp_fetch: Any) -> None:
    grid = colourful_grid(ImageGrid, origin="upper-left")
    url = await asyncio.to_thread(grid.post_to_web)
    grid_id = url.rsplit("/", 1)[1]
    record = json.loads((await jp_fetch("blocks", "api", "grids", grid_id)).body)
    assert record["ipb_class"] == "ImageGrid"
    loaded = await asyncio.to_thread(ImageGrid.from_web, grid_id, origin="upper-left")
    assert loaded._to_simple_grid() == grid._to_simple_grid()


@pytest.mark.usefixtures("client_pointed_at_server")
async def test_code_cells_sent_by_the_client_are_shown_on_the_page(jp_fetch: Any) -> None:
    grid = colourful_grid()
    request = grid._construct_post_request(code_cells=None, secret=False)
    request["code_cells"] = ["grid = BlockGrid(7, 5)", "grid[0, 0].size = 12"]
    response = await jp_fetch("blocks", "post", method="POST", body=json.dumps(request))
    grid_id = json.loads(response.body)["url"].rsplit("/", 1)[1]
    html = (await jp_fetch("blocks", grid_id)).body.decode()
    assert '<span class="n">BlockGrid</span>' in html


@pytest.mark.usefixtures("client_pointed_at_server")
async def test_client_sees_a_clear_http_error_for_an_unknown_grid() -> None:
    import requests

    with pytest.raises(requests.HTTPError) as raised:
        await asyncio.to_thread(BlockGrid.from_web, "AAAAAAAA")
    assert raised.value.response.status_code == 404
    assert raised.value.response.json()["message"] == "No grid with id 'AAAAAAAA'"

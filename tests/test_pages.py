"""HTML pages: a grid's page and the gallery; all user text escaped, errors without internals."""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import pytest

from tests.utils import AUTHOR, make_payload

pytestmark = pytest.mark.shared_server

SCRIPT = "<script>alert('pwned')</script>"


async def page(jp_fetch: Any, *parts: str, **kwargs: Any) -> str:
    response = await jp_fetch(*parts, **kwargs)
    assert response.headers["Content-Type"].startswith("text/html")
    return str(response.body.decode())


async def test_grid_page_draws_every_block_like_ipythonblocks(
    jp_fetch: Any, post_grid: Any
) -> None:
    grid = await post_grid(width=5, height=4, title="Stripes")
    html = await page(jp_fetch, "blocks", grid["id"])
    assert html.count("<td ") == 20
    assert html.count("<tr>") == 4
    assert 'class="blockgrid lines-on"' in html
    for row_index, row in enumerate(grid["grid_data"]["blocks"]):
        for col, (r, g, b, size) in enumerate(row):
            assert (
                f'title="Index: [{row_index}, {col}]&#10;Color: ({r}, {g}, {b})" '
                f'style="width: {size}px; height: {size}px; background-color: rgb({r}, {g}, {b});"'
            ) in html
    assert '<h1 class="jb-title">Stripes</h1>' in html
    assert AUTHOR in html
    assert f'BlockGrid.from_web("{grid["id"]}")' in html


async def test_user_text_is_escaped_and_code_highlighted(jp_fetch: Any, post_grid: Any) -> None:
    grid = await post_grid(title=SCRIPT, code_cells=[f"print({SCRIPT!r})", "x = 1  # " + SCRIPT])
    html = await page(jp_fetch, "blocks", grid["id"])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html or "&lt;script" in html
    # pygments marks up the code: a name, an operator, a number
    assert re.search(r'<span class="n">x</span>\s*<span class="o">=</span>', html)
    gallery = await page(jp_fetch, "blocks", "")
    assert "<script>" not in gallery


async def test_secret_page_is_at_its_secret_path(jp_fetch: Any, post_grid: Any) -> None:
    grid = await post_grid(secret=True)
    html = await page(jp_fetch, "blocks", "secret", grid["id"])
    assert "secret (unlisted)" in html
    assert f'.from_web("{grid["id"]}", secret=True)' in html
    missing = await jp_fetch("blocks", grid["id"], raise_error=False)
    assert missing.code == 404


async def test_unknown_grid_page_is_a_404_page_without_internals(jp_fetch: Any) -> None:
    response = await jp_fetch("blocks", "AAAAAAAAA", raise_error=False)
    assert response.code == 404
    html = response.body.decode()
    assert "No grid with id &#39;AAAAAAAAA&#39;" in html
    assert "most recent call" not in html


async def test_gallery_lists_public_grids_and_pages(
    jp_fetch: Any, post_grid: Any, blocks_app: Any, jp_base_url: str
) -> None:
    blocks_app.page_size = 2
    titles = [f"grid number {n}" for n in range(3)]
    for title in titles:
        await post_grid(title=title)
    await post_grid(secret=True, title="hidden one")
    first = await page(jp_fetch, "blocks", "")
    assert titles[2] in first and titles[1] in first and titles[0] not in first
    assert "hidden one" not in first
    older = re.search(r'class="jb-older" href="([^"]+)"', first)
    assert older
    path, query = older.group(1).replace("&amp;", "&").split("?")
    assert path == f"{jp_base_url}blocks/"
    cursor = dict(part.split("=") for part in query.split("&"))["cursor"]
    second = await page(jp_fetch, "blocks", "", params={"cursor": cursor})
    assert titles[0] in second and titles[1] not in second
    assert 'class="jb-older"' not in second


async def test_gallery_filters_by_author_and_shows_an_empty_state(jp_fetch: Any) -> None:
    html = await page(jp_fetch, "blocks", "", params={"author": "<b>nobody</b>"})
    assert "Grids by &lt;b&gt;nobody&lt;/b&gt;" in html
    assert "No grids here yet" in html


async def test_gallery_is_served_without_the_trailing_slash(jp_fetch: Any) -> None:
    assert "Blocks gallery" in await page(jp_fetch, "blocks")


@pytest.mark.parametrize("lines_on", [True, False])
async def test_grid_lines_follow_lines_on(jp_fetch: Any, lines_on: bool) -> None:
    payload = make_payload()
    payload["grid_data"]["lines_on"] = lines_on
    response = await jp_fetch("blocks", "api", "grids", method="POST", body=json.dumps(payload))
    html = await page(jp_fetch, "blocks", json.loads(response.body)["id"])
    assert f'class="blockgrid lines-{"on" if lines_on else "off"}"' in html


async def canvas_blocks(
    jp_fetch: Any, jp_base_url: str, html: str
) -> tuple[dict[str, str], list[list[list[int]]]]:
    """The data attributes of a page's grid canvas, and the blocks its pixels URL serves."""
    canvas = re.search(r"<canvas ([^>]*)>", html)
    assert canvas
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', canvas.group(1)))
    url = attributes["data-pixels-url"]
    assert url.startswith(jp_base_url)
    response = await jp_fetch(url[len(jp_base_url) :])
    assert response.headers["Content-Type"] == "application/octet-stream"
    flat = zlib.decompress(response.body)
    width = int(attributes["data-width"])
    blocks = [list(flat[i : i + 4]) for i in range(0, len(flat), 4)]
    return attributes, [blocks[i : i + width] for i in range(0, len(blocks), width)]


async def test_a_big_grid_page_draws_its_blocks_on_a_canvas(
    jp_fetch: Any, post_grid: Any, jp_base_url: str
) -> None:
    grid = await post_grid(width=80, height=60)
    html = await page(jp_fetch, "blocks", grid["id"])
    assert "<td " not in html
    attributes, blocks = await canvas_blocks(jp_fetch, jp_base_url, html)
    assert blocks == grid["grid_data"]["blocks"]
    assert (attributes["data-width"], attributes["data-height"]) == ("80", "60")
    assert attributes["data-lines-on"] == "true" and attributes["class"] == "blockgrid lines-on"
    # drawn by a static script: pages carry no inline script (CSP script-src 'self')
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert scripts and all('src="' in tag and not body.strip() for tag, body in scripts)
    script_url = re.search(r'<script src="([^"]+grid\.js[^"]*)"', html).group(1)  # type: ignore[union-attr]
    assert script_url.startswith(jp_base_url)
    script = await jp_fetch(script_url[len(jp_base_url) :].split("?")[0])
    assert b"DecompressionStream" in script.body


async def test_a_secret_big_grid_page_draws_from_its_secret_id(
    jp_fetch: Any, post_grid: Any, jp_base_url: str
) -> None:
    grid = await post_grid(width=60, height=60, secret=True)
    html = await page(jp_fetch, "blocks", "secret", grid["id"])
    _, blocks = await canvas_blocks(jp_fetch, jp_base_url, html)
    assert blocks == grid["grid_data"]["blocks"]


async def test_the_page_of_the_biggest_grid_is_small(
    jp_fetch: Any, post_grid: Any, jp_base_url: str
) -> None:
    """500x500 blocks were a 32 MB table; on a canvas, the page is as small as any other."""
    grid = await post_grid(width=500, height=500)
    response = await jp_fetch("blocks", grid["id"])
    assert len(response.body) <= 100_000
    _, blocks = await canvas_blocks(jp_fetch, jp_base_url, response.body.decode())
    assert blocks == grid["grid_data"]["blocks"]


async def test_pixels_are_cacheable_and_404_for_unknown_grids(
    jp_fetch: Any, post_grid: Any
) -> None:
    grid = await post_grid(width=60, height=60)
    first = await jp_fetch("blocks", "api", "grids", grid["id"], "pixels")
    etag = first.headers["ETag"]
    again = await jp_fetch(
        "blocks",
        "api",
        "grids",
        grid["id"],
        "pixels",
        headers={"If-None-Match": etag},
        raise_error=False,
    )
    assert again.code == 304
    missing = await jp_fetch("blocks", "api", "grids", "AAAAAAAAA", "pixels", raise_error=False)
    assert missing.code == 404 and json.loads(missing.body)["message"]


# ------------------------------------------------------------ header, scripts, search, errors

PAGES = [("blocks", ""), ("blocks", "{id}"), ("blocks", "nosuchgrid"), ("blocks", "no", "such")]


@pytest.mark.parametrize("parts", PAGES)
async def test_every_page_has_the_header_and_no_inline_script(
    jp_fetch: Any, post_grid: Any, jp_base_url: str, parts: tuple[str, ...]
) -> None:
    grid = await post_grid()
    response = await jp_fetch(*(part.format(id=grid["id"]) for part in parts), raise_error=False)
    html = response.body.decode()
    assert f'<a href="{jp_base_url}blocks/">Gallery</a>' in html
    assert f'<a href="{jp_base_url}blocks/random">Random</a>' in html
    assert f'<a href="{jp_base_url}lab">Open in JupyterLab</a>' in html
    assert f'action="{jp_base_url}blocks/"' in html and 'name="q"' in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert len(scripts) == 1
    attributes, body = scripts[0]
    assert body == ""
    assert re.search(
        rf'src="{re.escape(jp_base_url)}static/jupyter_blocks/blocks\.js\?v=\w+"', attributes
    )
    assert "onclick" not in html.lower() and "javascript:" not in html.lower()


async def test_the_pages_script_is_served_as_a_static_file(jp_fetch: Any) -> None:
    response = await jp_fetch("static", "jupyter_blocks", "blocks.js")
    assert "javascript" in response.headers["Content-Type"]
    script = response.body.decode()
    assert "jb-local" in script and "jb-copy" in script


async def test_grid_page_has_a_copy_button_local_times_and_a_png_link(
    jp_fetch: Any, post_grid: Any, jp_base_url: str
) -> None:
    grid = await post_grid()
    html = await page(jp_fetch, "blocks", grid["id"])
    assert '<pre class="jb-snippet" id="jb-load-snippet">' in html
    assert '<button type="button" class="jb-copy" data-copy="jb-load-snippet">Copy</button>' in html
    assert f'<time class="jb-local" datetime="{grid["created"]}">' in html
    assert f'href="{jp_base_url}blocks/api/grids/{grid["id"]}/image.png"' in html


async def test_untitled_grids_are_called_untitled_everywhere(jp_fetch: Any, post_grid: Any) -> None:
    grid = await post_grid(title=None)
    grid_page = await page(jp_fetch, "blocks", grid["id"])
    gallery = await page(jp_fetch, "blocks", "")
    assert '<h1 class="jb-title">Untitled</h1>' in grid_page
    assert "<title>Untitled · jupyter-blocks</title>" in grid_page
    assert '<span class="jb-card-title">Untitled</span>' in gallery
    assert "Untitled grid" not in grid_page + gallery


async def test_gallery_searches_titles_and_authors_and_pages_with_the_query(
    jp_fetch: Any, post_grid: Any, blocks_app: Any
) -> None:
    blocks_app.page_size = 1
    for title in ("Red sea", "Blue SEA", "Green field"):
        await post_grid(title=title)
    first = await page(jp_fetch, "blocks", "", params={"q": "sea"})
    assert "Blue SEA" in first and "Red sea" not in first and "Green field" not in first
    assert 'value="sea"' in first
    older = re.search(r'class="jb-older" href="([^"]+)"', first)
    assert older and "q=sea" in older.group(1)
    query = dict(
        part.split("=") for part in older.group(1).replace("&amp;", "&").split("?")[1].split("&")
    )
    second = await page(jp_fetch, "blocks", "", params=query)
    assert "Red sea" in second and "Blue SEA" not in second
    nothing = await page(jp_fetch, "blocks", "", params={"q": "<b>zebra</b>"})
    assert "No grid's title or author contains “&lt;b&gt;zebra&lt;/b&gt;”" in nothing


@pytest.mark.parametrize("parts", [("blocks", "AAAAAA"), ("blocks", "no", "such", "page")])
async def test_not_found_is_a_styled_page_with_a_link_back(
    jp_fetch: Any, jp_base_url: str, parts: tuple[str, ...]
) -> None:
    response = await jp_fetch(*parts, raise_error=False)
    assert response.code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    html = response.body.decode()
    assert "<h1>Nothing here</h1>" in html
    assert f'<a class="jb-back" href="{jp_base_url}blocks/">Back to the gallery</a>' in html
    assert "blocks.css" in html


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_unknown_api_paths_are_json_404s(
    jp_fetch: Any, jp_base_url: str, method: str
) -> None:
    response = await jp_fetch(
        "blocks",
        "api",
        "nothing",
        method=method,
        body="" if method == "POST" else None,
        raise_error=False,
    )
    assert response.code == 404
    assert json.loads(response.body) == {
        "message": f"There is no API endpoint at {jp_base_url}blocks/api/nothing",
        "errors": [],
    }


class TestOnTheHubGalleryService:
    """The gallery service is no one's server: "Open in JupyterLab" goes through the Hub."""

    @pytest.fixture
    def blocks_config(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
        monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/hub-root/")
        return {"hub_service": True}

    async def test_open_in_jupyterlab_goes_to_the_viewers_own_server(self, jp_fetch: Any) -> None:
        html = await page(jp_fetch, "blocks", "")
        assert '<a href="/hub-root/hub/user-redirect/lab">Open in JupyterLab</a>' in html

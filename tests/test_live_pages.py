"""The pages of the live gallery as the server renders them: the class wall (`blocks/wall`),
the gallery's one search box, and the hooks blocks.js makes them live by (tests/browser/
test_live_pages.py watches them change in a browser)."""

from __future__ import annotations

import re
from typing import Any

from tests.utils import grid_payload

SCRIPT = "<script>alert('pwned')</script>"


async def html_of(jp_fetch: Any, *parts: str, **params: str) -> tuple[str, Any]:
    response = await jp_fetch(*parts, params=params)
    assert response.code == 200
    return response.body.decode(), response


async def test_the_wall_shows_the_newest_public_grids_with_title_and_author(
    jp_fetch: Any, post_grid: Any, jp_base_url: str
) -> None:
    older = await post_grid(**grid_payload(1, title="Older"))
    newer = await post_grid(**grid_payload(2, title=SCRIPT))
    secret = await post_grid(**grid_payload(3, title="Hidden", secret=True))
    html, response = await html_of(jp_fetch, "blocks", "wall")
    tiles = re.findall(r'<li class="jb-tile" data-id="([^"]+)">', html)
    assert tiles == [newer["id"], older["id"]]
    assert secret["id"] not in html and "Hidden" not in html
    assert SCRIPT not in html and "&lt;script&gt;" in html
    assert '<span class="jb-tile-author">teacher</span>' in html
    assert f'data-events-url="{jp_base_url}blocks/api/events"' in html
    assert f'data-grids-url="{jp_base_url}blocks/api/grids"' in html
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in csp and "script-src 'self'" in csp
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert [body for _, body in scripts] == ["", ""]
    assert "wall.js" in scripts[1][0] and "blocks.js" in scripts[0][0]


async def test_the_wall_filters_by_search_and_author(jp_fetch: Any, post_grid: Any) -> None:
    sunset = await post_grid(**grid_payload(0))  # "Sunset diagonal"
    await post_grid(**grid_payload(4))  # "Lagoon diagonal"
    html, _ = await html_of(jp_fetch, "blocks", "wall", q="sunset", author="teacher")
    assert re.findall(r'data-id="([^"]+)"', html) == [sunset["id"]]
    assert 'value="sunset"' in html and 'value="teacher"' in html
    html, _ = await html_of(jp_fetch, "blocks", "wall", author="nobody")
    assert 'data-id="' not in html
    assert '<p class="jb-wall-empty" >' in html or 'class="jb-wall-empty"' in html


async def test_the_wall_takes_any_query_without_an_error(jp_fetch: Any) -> None:
    for q in ("x" * 5000, "%_\\", "\u00e9\u00e8"):
        response = await jp_fetch("blocks", "wall", params={"q": q, "author": q})
        assert response.code == 200


async def test_the_gallery_has_one_search_box_and_live_cards(jp_fetch: Any, post_grid: Any) -> None:
    grid = await post_grid(**grid_payload(1))
    html, _ = await html_of(jp_fetch, "blocks", "")
    assert len(re.findall(r'<input type="search"', html)) == 1
    assert f'<li class="jb-card" data-id="{grid["id"]}">' in html
    assert 'data-live="gallery"' in html and 'data-first-page="true"' in html


async def test_an_empty_gallery_still_has_its_live_list(jp_fetch: Any) -> None:
    html, _ = await html_of(jp_fetch, "blocks", "")
    assert re.search(r'<ul class="jb-cards"[^>]*hidden', html)
    assert "%load_ext" not in html


async def test_a_grid_page_names_its_grid_for_blocks_js(
    jp_fetch: Any, post_grid: Any, jp_base_url: str
) -> None:
    grid = await post_grid(**grid_payload(1))
    html, _ = await html_of(jp_fetch, "blocks", grid["id"])
    assert f'data-grid-id="{grid["id"]}"' in html
    assert f'data-record-url="{jp_base_url}blocks/api/grids/{grid["id"]}"' in html
    assert "data-secret" not in html and "%load_ext" not in html
    secret = await post_grid(**grid_payload(2, secret=True))
    html, _ = await html_of(jp_fetch, "blocks", "secret", secret["id"])
    assert 'data-secret="true"' in html


async def test_the_pages_script_holds_the_live_connection(jp_fetch: Any) -> None:
    script = (await jp_fetch("static", "jupyter_blocks", "blocks.js")).body.decode()
    assert "JupyterBlocksLive" in script and "WebSocket" in script
    wall = (await jp_fetch("static", "jupyter_blocks", "wall.js")).body.decode()
    assert "requestFullscreen" in wall
    css = (await jp_fetch("static", "jupyter_blocks", "wall.css")).body.decode()
    assert "prefers-color-scheme: dark" in css

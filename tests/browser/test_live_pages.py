"""The live HTML pages in Debian's chromium: the gallery page, a grid's page and the class wall
change within a second, without a click, when another client posts, renames or deletes a grid;
the wall's pause, filters and screenshots (in tests/artifacts; docs/wall.png and
docs/wall-dark.png are copies of them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.utils import ARTIFACTS, Server, grid_payload, start_server, stop_server

pytestmark = pytest.mark.browser

WITHIN = 1000  # ms: the goal, from the change's answer to the page showing it


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own (the other browser tests count the grids of theirs)."""
    home = tmp_path_factory.mktemp("live-pages")
    server = start_server(
        "live-pages",
        "server",
        home,
        [
            f"--BlocksApp.db_url=sqlite:///{home / 'blocks.sqlite'}",
            "--BlocksApp.default_author=ada",
        ],
    )
    yield server
    stop_server(server)


def open_live(page: Page, url: str) -> None:
    """Open a page and wait until its live socket said hello (frames are counted from the
    socket's start: the hello may come before a wait for it could begin)."""
    frames: list[Any] = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda f: frames.append(f)))
    page.goto(url)
    for _ in range(200):
        if frames:
            return
        page.wait_for_timeout(50)
    raise AssertionError("the page's live socket said no hello within 10 s")


def rename(server: Server, grid: dict[str, Any], title: str) -> None:
    response = server.api("PATCH", f"api/grids/{grid['id']}", json={"title": title})
    assert response.status_code == 200, response.text


def delete(server: Server, grid: dict[str, Any]) -> None:
    assert server.api("DELETE", f"api/grids/{grid['id']}").status_code == 204


def test_the_gallery_page_follows_posts_renames_and_deletes(
    page: Page, page_errors: list[Any], live: Server
) -> None:
    open_live(page, f"{live.url}blocks/?token={live.token}")
    grid = live.post_grid(grid_payload(1, title="Fresh from a kernel"))
    card = page.locator(f'li.jb-card[data-id="{grid["id"]}"]')
    expect(card).to_be_visible(timeout=WITHIN)
    expect(card.locator(".jb-card-title")).to_have_text("Fresh from a kernel")
    expect(page.locator("li.jb-card").first).to_have_attribute("data-id", grid["id"])
    rename(live, grid, "Renamed <b>live</b>")
    expect(card.locator(".jb-card-title")).to_have_text("Renamed <b>live</b>", timeout=WITHIN)
    delete(live, grid)
    expect(card).to_have_count(0, timeout=WITHIN)
    secret = live.post_grid(grid_payload(2, title="Secret one", secret=True))
    page.wait_for_timeout(500)
    expect(page.locator(f'li.jb-card[data-id="{secret["id"]}"]')).to_have_count(0)
    expect(page.get_by_text("Secret one")).to_have_count(0)
    # one search box, dates on one line
    expect(page.locator('input[type="search"]')).to_have_count(1)


def test_a_grid_page_shows_its_new_title_and_that_it_was_deleted(
    page: Page, page_errors: list[Any], live: Server
) -> None:
    grid = live.post_grid(grid_payload(3, title="Before"))
    open_live(page, f"{grid['url']}?token={live.token}")
    rename(live, grid, "After")
    expect(page.locator("h1.jb-title")).to_have_text("After", timeout=WITHIN)
    assert page.title().startswith("After")
    delete(live, grid)
    expect(page.locator(".jb-deleted")).to_have_text("This grid was deleted.", timeout=WITHIN)


def test_the_wall_mosaic_follows_changes_and_pauses(
    page: Page, page_errors: list[Any], live: Server
) -> None:
    open_live(page, f"{live.url}blocks/wall?token={live.token}")
    grid = live.post_grid(grid_payload(5, title="On the wall"))
    tile = page.locator(f'li.jb-tile[data-id="{grid["id"]}"]')
    expect(tile).to_be_visible(timeout=WITHIN)
    expect(page.locator("li.jb-tile").first).to_have_attribute("data-id", grid["id"])
    expect(tile).to_have_class("jb-tile jb-wall-new")
    expect(tile.locator(".jb-tile-author")).to_have_text("ada")
    rename(live, grid, "Renamed on the wall")
    expect(tile.locator(".jb-tile-title")).to_have_text("Renamed on the wall", timeout=WITHIN)
    delete(live, grid)
    expect(tile).to_have_count(0, timeout=WITHIN)

    page.get_by_role("button", name="Pause").click()
    paused = live.post_grid(grid_payload(6, title="While paused"))
    expect(page.locator(".jb-wall-status")).to_contain_text("1 changes waiting", timeout=WITHIN)
    expect(page.locator(f'li.jb-tile[data-id="{paused["id"]}"]')).to_have_count(0)
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(f'li.jb-tile[data-id="{paused["id"]}"]')).to_be_visible()

    page.get_by_label("Search titles and authors").fill("paused")
    expect(page).to_have_url(re.compile(r"wall\?q=paused$"))
    expect(page.locator("li.jb-tile")).to_have_count(1)
    other = live.post_grid(grid_payload(7, title="Not matching"))
    page.wait_for_timeout(500)
    expect(page.locator(f'li.jb-tile[data-id="{other["id"]}"]')).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_wall_screenshots(chromium: Browser, live: Server, scheme: str) -> None:
    existing = {grid["title"] for grid in live.all_grids()}
    for number in range(16):
        payload = grid_payload(number, width=12, height=12)
        if payload["title"] not in existing:
            live.post_grid(payload)
    context = chromium.new_context(
        viewport={"width": 1600, "height": 900}, color_scheme=scheme, device_scale_factor=1
    )
    page = context.new_page()
    try:
        open_live(page, f"{live.url}blocks/wall?token={live.token}")
        newest = live.post_grid(
            grid_payload(17, width=12, height=12, title=f"Just posted ({scheme})")
        )
        tile = page.locator(f'li.jb-tile[data-id="{newest["id"]}"]')
        expect(tile).to_be_visible(timeout=WITHIN)
        page.wait_for_timeout(1300)  # the arrival's animation, its highlight kept
        page.evaluate("document.querySelectorAll('img').length")
        name = "wall.png" if scheme == "light" else "wall-dark.png"
        # into the artifacts, as the other pictures: docs/ changes only when someone copies one
        page.screenshot(path=str(ARTIFACTS / name))
    finally:
        context.close()

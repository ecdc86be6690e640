"""Finding grids in the gallery panel: the search box, author suggestions, the keyboard, and
what the panel says when its server goes away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Error, Page, expect

from tests.utils import Server, grid_payload, start_server, stop_server

from .servers import LAB_ARGS, Seeded
from .ui import CARD, grid_tab, open_gallery

pytestmark = pytest.mark.browser

SEARCH = "input.jp-BlocksGallery-search"


def matching(server: Server, text: str) -> list[dict]:
    """What the API finds for `q=text`, newest first."""
    response = server.api("GET", "api/grids", params={"q": text, "limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_search_box_finds_grids_by_title_and_suggests_authors(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    panel = open_gallery(page, lab)
    cards = panel.locator(CARD)
    expect(cards).to_have_count(24)

    rings = matching(lab, "RINGS")
    assert 0 < len(rings) < 24
    panel.locator(SEARCH).fill("RINGS")  # searched as you type, case-insensitively
    expect(cards).to_have_count(len(rings))
    expect(cards.locator(".jp-BlocksGallery-cardTitle")).to_have_text(
        [grid["title"] for grid in rings]
    )

    panel.locator(SEARCH).fill("bo")
    expect(panel.locator("datalist option")).to_have_count(1)
    expect(panel.locator("datalist option")).to_have_attribute("value", "bob")

    panel.locator(SEARCH).fill("no grid has this")
    panel.locator(SEARCH).press("Enter")
    expect(panel.locator(".jp-BlocksGallery-empty")).to_have_text(
        'No grids match "no grid has this".'
    )
    panel.locator(SEARCH).fill("")
    expect(cards).to_have_count(24)


def test_arrow_keys_move_between_cards_and_enter_opens(
    page: Page, page_errors: list[Error], lab: Server, seeded: Seeded
) -> None:
    grids = lab.all_grids()[:24]
    panel = open_gallery(page, lab)
    cards = panel.locator(CARD)
    expect(cards).to_have_count(24)
    columns = cards.evaluate_all(
        "cards => cards.filter(card => card.offsetTop === cards[0].offsetTop).length"
    )
    assert columns >= 2  # cards follow the sidebar's width

    panel.locator(SEARCH).click()
    page.keyboard.press("ArrowDown")  # from the empty search box to the first card
    expect(cards.nth(0)).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(cards.nth(1)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(cards.nth(1 + columns)).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(cards.nth(columns)).to_be_focused()
    page.keyboard.press("Enter")

    chosen = grids[columns]
    expect(grid_tab(page, chosen["id"]).locator(".jp-BlocksGridView-title")).to_have_text(
        chosen["title"] or "Untitled"
    )
    # Tab comes back to the card last chosen, which stays the one reachable by Tab.
    expect(cards.nth(columns)).to_have_attribute("tabindex", "0")
    expect(cards.nth(0)).to_have_attribute("tabindex", "-1")


@pytest.fixture
def doomed_lab(browser_home: Path) -> Iterator[Server]:
    """A JupyterLab of its own (own database) that a test stops."""
    home = browser_home / "doomed"
    server = start_server(
        "doomed-lab",
        "lab",
        home,
        [*LAB_ARGS, f"--BlocksApp.db_url=sqlite:///{home / 'blocks.sqlite'}"],
    )
    yield server
    if server.process.poll() is None:
        stop_server(server)


def test_panel_says_the_server_is_gone_within_one_poll(
    page: Page, page_errors: list[Error], doomed_lab: Server
) -> None:
    doomed_lab.post_grid(grid_payload(1))
    panel = open_gallery(page, doomed_lab)
    expect(panel.locator(CARD)).to_have_count(1)

    stop_server(doomed_lab)
    # The panel polls every 5 s: the next poll replaces the cards by the reason.
    expect(panel.locator(".jp-BlocksGallery-errorMessage")).to_have_text(
        "Cannot reach the server", timeout=10_000
    )
    expect(panel.locator(CARD)).to_have_count(0)
    expect(panel.get_by_role("button", name="Retry")).to_be_visible()
    # JupyterLab's own polls (kernels, sessions) leave "Failed to fetch" rejections unhandled
    # when the server stops, with or without jupyter-blocks: not ours.
    page_errors[:] = [
        error
        for error in page_errors
        if error.message != "Failed to fetch" or "jupyter-blocks" in (error.stack or "")
    ]

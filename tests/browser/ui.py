"""Driving JupyterLab and the Blocks gallery panel in chromium: selectors, waits, readings."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.utils import Server

from .servers import GALLERY_ID

SIDEBAR_TAB = f'.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="{GALLERY_ID}"]'
CARD = ".jp-BlocksGallery-card"
LOAD_TIMEOUT = 60_000  # ms: JupyterLab's first load, a kernel start
STEP_TIMEOUT = 15_000  # ms: one interaction
NOTEBOOK7_SHORTCUTS_ERROR = "Cannot read properties of undefined (reading 'schema')"


def open_lab(page: Page, server: Server) -> None:
    """Load JupyterLab (fresh workspace) logged in with the token."""
    page.goto(f"{server.url}lab?reset&token={server.token}", timeout=LOAD_TIMEOUT)
    page.locator(SIDEBAR_TAB).wait_for(timeout=LOAD_TIMEOUT)


def open_gallery(page: Page, server: Server) -> Locator:
    """Load JupyterLab, show the gallery panel from its sidebar tab and return the panel."""
    open_lab(page, server)
    page.locator(SIDEBAR_TAB).click()
    panel = page.locator(f"#{GALLERY_ID}")
    expect(panel).to_be_visible()
    expect(
        panel.locator(f"{CARD}, .jp-BlocksGallery-empty, .jp-BlocksGallery-error").first
    ).to_be_visible()
    return panel


def grid_tab(page: Page, grid_id: str) -> Locator:
    return page.locator(f'[id="jupyter-blocks-grid-{grid_id}"]')


def colour_text(block: list[int]) -> str:
    return f"{block[0]}, {block[1]}, {block[2]}"


def pixel_at(canvas: Locator, row: int, col: int, pitch: int = 21) -> list[int]:
    """The colour drawn at the centre of block (row, col) of a grid canvas of 20 px blocks."""
    return canvas.evaluate(
        """(canvas, [x, y]) => {
            const scale = canvas.width / parseFloat(canvas.style.width);
            const data = canvas.getContext('2d').getImageData(x * scale, y * scale, 1, 1).data;
            return [data[0], data[1], data[2]];
        }""",
        [1 + col * pitch + 10, 1 + row * pitch + 10],
    )

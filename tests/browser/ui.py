"""Driving JupyterLab, the Blocks gallery panel and a JupyterHub login in chromium: selectors,
waits, readings, the frames of the pages' event streams."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Locator, Page, WebSocket, expect

from tests.gallery_hub import Hub
from tests.utils import Server, grid_payload

from .servers import GALLERY_ID

SIDEBAR_TAB = f'.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="{GALLERY_ID}"]'
CARD = ".jp-BlocksGallery-card"
LOAD_TIMEOUT = 60_000  # ms: JupyterLab's first load, a kernel start
STEP_TIMEOUT = 15_000  # ms: one interaction
EVENTS_PATH = "blocks/api/events"
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


def post_as(gallery_hub: Hub, user: str, title: str) -> dict[str, Any]:
    """A public grid posted by `user` with their Hub token, through the Hub's proxy."""
    response = gallery_hub.as_user(user).post(
        gallery_hub.gallery("api/grids"), json=grid_payload(7, title=title), timeout=30
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def log_in(page: Page, hub_url: str, user: str) -> None:
    """Log in to the login page of the Hub at `hub_url` as `user` (any password:
    DummyAuthenticator)."""
    page.goto(f"{hub_url}hub/login", timeout=LOAD_TIMEOUT)
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill("any")
    with page.expect_navigation(timeout=LOAD_TIMEOUT):
        page.locator("input[type=submit], button[type=submit]").first.click()


def open_gallery_on(page: Page, hub_url: str, server_owner: str) -> None:
    """JupyterLab on `server_owner`'s server, at `hub_url` (the Hub's, or with subdomains the
    server's own), agreeing to a shared server's access page."""
    page.goto(f"{hub_url}user/{server_owner}/lab?reset", timeout=LOAD_TIMEOUT)
    if "/hub/api/oauth2/authorize" in page.url:
        with page.expect_navigation(timeout=LOAD_TIMEOUT):
            page.locator("form input[type=submit], form button[type=submit]").first.click()
    page.locator(SIDEBAR_TAB).wait_for(timeout=LOAD_TIMEOUT)
    page.locator(SIDEBAR_TAB).click()


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


@dataclass
class EventStream:
    """A page's sockets to the event stream, and the text frames they received."""

    sockets: list[WebSocket] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)

    def hellos(self) -> int:
        return sum(json.loads(frame).get("type") == "hello" for frame in self.frames)

    def wait_for_hello(self, page: Page) -> None:
        deadline = time.monotonic() + 30
        while self.hellos() == 0:
            assert time.monotonic() < deadline, "the page never connected to the event stream"
            page.wait_for_timeout(100)


def listen_to_events(page: Page) -> EventStream:
    """The page's sockets to `blocks/api/events` and their frames, from now on (call it before
    the page loads: the hello may come before a wait for it could begin)."""
    stream = EventStream()

    def on_socket(socket: WebSocket) -> None:
        if EVENTS_PATH not in socket.url:
            return
        stream.sockets.append(socket)

        def on_frame(payload: str | bytes) -> None:
            stream.frames.append(payload if isinstance(payload, str) else payload.decode())

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return stream

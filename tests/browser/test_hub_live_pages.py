"""The live pages through a real JupyterHub: bob, logged in to the Hub in chromium, has the HTML
gallery, a grid's page and the class wall of the gallery service open (at the service's URL,
through the Hub's proxy, on the Hub's OAuth cookie); alice posts with the stock ipythonblocks
client from a kernel on her server, renames and deletes with her Hub token, and posts a secret
grid. Each change shows on every page within a second of its answer, without a click; the
secret grid shows nowhere and is in no frame. The same for bob's panel and an open grid tab in
his JupyterLab on the Hub.

Latency is measured in the page: a MutationObserver notes when the change first shows
(`Date.now()`), compared with the moment the change's request answered (`time.time()` in the
kernel or in the test: one machine, one clock).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import BrowserContext, Error, Page, expect

from tests import hubs
from tests.gallery_hub import SERVICE, Hub
from tests.utils import grid_payload

from .ui import (
    CARD,
    LOAD_TIMEOUT,
    EventStream,
    grid_tab,
    listen_to_events,
    log_in,
    open_gallery_on,
    post_as,
)

pytestmark = pytest.mark.browser
log = logging.getLogger(__name__)

WITHIN = 1000  # ms: issue 22's goal, from the change's answer to the page showing it
QUIET_MS = 1500  # the service's listener starts for a first subscriber, then says hello again

# Notes in window.jbArrived when each element with a grid id first showed (those already there
# at 0), so a post is timed without knowing its id beforehand.
NOTE_ARRIVALS = """() => {
    const arrived = (window.jbArrived = {});
    const note = (node, when) => {
        if (!(node instanceof Element)) return;
        for (const element of [node, ...node.querySelectorAll('[data-id], [data-grid-id]')]) {
            const id = element.dataset.id || element.dataset.gridId;
            if (id && !(id in arrived)) arrived[id] = when;
        }
    };
    note(document.documentElement, 0);
    new MutationObserver(records => {
        const now = Date.now();
        for (const record of records) {
            record.addedNodes.forEach(node => note(node, now));
            if (record.type === 'attributes') note(record.target, now);
        }
    }).observe(document, {
        subtree: true, childList: true, attributes: true,
        attributeFilter: ['data-id', 'data-grid-id'],
    });
}"""

# Notes in window.jbSeen[name] when `selector` first matches (with `text`, if given), or first
# matches nothing (`present` false). False when that already holds: nothing to time.
NOTE_WHEN = """([name, selector, text, present]) => {
    const seen = (window.jbSeen = window.jbSeen || {});
    const holds = () => {
        const found = [...document.querySelectorAll(selector)];
        if (!present) return found.length === 0;
        return found.some(element => text === null || element.textContent.trim() === text);
    };
    if (holds()) return false;
    const observer = new MutationObserver(() => {
        if (holds()) {
            seen[name] = Date.now();
            observer.disconnect();
        }
    });
    observer.observe(document, {subtree: true, childList: true, characterData: true,
                                attributes: true});
    return true;
}"""


@dataclass(eq=False)
class LivePage:
    """A page of bob's, the frames of its event stream, and what its observers noted."""

    name: str
    page: Page
    events: EventStream
    errors: list[Error]

    def note_arrivals(self) -> None:
        self.page.evaluate(NOTE_ARRIVALS)

    def note_when(self, selector: str, text: str | None = None, present: bool = True) -> str:
        name = secrets.token_hex(4)
        ready = self.page.evaluate(NOTE_WHEN, [name, selector, text, present])
        assert ready, f"{self.name}: {selector} {text!r} already holds before the change"
        return name

    def _noted(self, script: str, key: str) -> float:
        deadline = time.monotonic() + 10
        while (noted := self.page.evaluate(script, key)) is None:
            assert time.monotonic() < deadline, f"{self.name}: {key} did not show in 10 s"
            self.page.wait_for_timeout(20)
        return float(noted)

    def arrival_ms(self, grid_id: str, answered: float) -> float:
        """How long after `answered` (epoch seconds) the grid showed on this page."""
        shown = self._noted("id => (window.jbArrived || {})[id] ?? null", grid_id)
        return shown - answered * 1000

    def seen_ms(self, name: str, answered: float) -> float:
        shown = self._noted("name => (window.jbSeen || {})[name] ?? null", name)
        return shown - answered * 1000

    def never_showed(self, grid_id: str) -> None:
        """`grid_id` never showed here, nor came in a frame of its event stream."""
        arrived = self.page.evaluate("id => (window.jbArrived || {})[id] ?? null", grid_id)
        assert arrived is None, f"{self.name} showed {grid_id}"
        assert grid_id not in self.page.content(), self.name
        assert not any(grid_id in frame for frame in self.events.frames), self.name


def all_within(measured: dict[str, int], change: str, latencies: dict[str, float]) -> None:
    """Each page showed `change` within WITHIN ms; the numbers go into `measured`."""
    measured.update({f"{change}: {page}": round(ms) for page, ms in latencies.items()})
    assert all(ms <= WITHIN for ms in latencies.values()), (change, latencies)


POST_FROM_KERNEL = """
%load_ext jupyter_blocks
import time
from ipythonblocks import BlockGrid
grid = BlockGrid(5, 4, fill=(40, 90, 200))
grid[1, 2].rgb = (250, 200, 0)
url = grid.post_to_web(secret={secret})
print(url, time.time())
"""


def post_from_alices_kernel(hub: Hub, secret: bool = False) -> tuple[str, float]:
    """A grid posted by the stock client in a kernel on alice's server (her server's Hub
    token): its id and when the post answered (epoch seconds, taken in the kernel)."""
    printed = hubs.run_in_kernel(
        hub.url, "alice", hub.tokens["alice"], POST_FROM_KERNEL.format(secret=secret)
    )
    url, answered = printed.split()
    prefix = hub.gallery("secret/" if secret else "")
    assert url.startswith(prefix), (url, prefix)
    return url[len(prefix) :], float(answered)


def rename_as_alice(hub: Hub, grid_id: str, title: str) -> float:
    response = hub.as_user("alice").patch(
        hub.gallery(f"api/grids/{grid_id}"), json={"title": title}, timeout=30
    )
    answered = time.time()
    assert response.status_code == 200, response.text
    return answered


def delete_as_alice(hub: Hub, grid_id: str) -> float:
    response = hub.as_user("alice").delete(hub.gallery(f"api/grids/{grid_id}"), timeout=30)
    answered = time.time()
    assert response.status_code == 204, response.text
    return answered


def open_live(context: BrowserContext, name: str, url: str) -> LivePage:
    """A new tab on `url` whose event stream said hello, its arrivals noted from then on."""
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    events = listen_to_events(page)
    page.goto(url, timeout=LOAD_TIMEOUT)
    assert page.url.split("?")[0] == url, page.url  # through the Hub's OAuth, to the page
    events.wait_for_hello(page)
    assert [f"/services/{SERVICE}/blocks/api/events" in s.url for s in events.sockets] == [True]
    return LivePage(name, page, events, errors)


def test_through_the_hub_the_gallery_a_grid_page_and_the_wall_follow_another_user(
    page: Page,
    page_errors: list[Error],
    gallery_hub: Hub,
) -> None:
    hub = gallery_hub
    measured: dict[str, int] = {}
    log_in(page, hub.url, "bob")
    context = page.context
    gallery = open_live(context, "gallery", hub.gallery(""))
    wall = open_live(context, "wall", hub.gallery("wall"))
    page.wait_for_timeout(QUIET_MS)
    for live in (gallery, wall):
        live.note_arrivals()

    # a post from alice's kernel, by the stock ipythonblocks client
    grid_id, answered = post_from_alices_kernel(hub)
    all_within(
        measured,
        "post",
        {live.name: live.arrival_ms(grid_id, answered) for live in (gallery, wall)},
    )
    card = gallery.page.locator(f'li.jb-card[data-id="{grid_id}"]')
    expect(card).to_be_visible()
    expect(gallery.page.locator("li.jb-card").first).to_have_attribute("data-id", grid_id)
    tile = wall.page.locator(f'li.jb-tile[data-id="{grid_id}"]')
    expect(tile).to_be_visible()
    expect(tile.locator(".jb-tile-author")).to_have_text("alice")

    grid_page = open_live(context, "grid page", hub.gallery(grid_id))
    page.wait_for_timeout(QUIET_MS)
    expect(grid_page.page.locator("h1.jb-title")).to_have_text("Untitled")

    # a rename by alice, with her Hub token
    title = "Renamed by alice <b>on the Hub</b>"
    watches = {
        gallery: gallery.note_when(f'li.jb-card[data-id="{grid_id}"] .jb-card-title', title),
        wall: wall.note_when(f'li.jb-tile[data-id="{grid_id}"] .jb-tile-title', title),
        grid_page: grid_page.note_when("h1.jb-title", title),
    }
    answered = rename_as_alice(hub, grid_id, title)
    all_within(
        measured,
        "rename",
        {live.name: live.seen_ms(name, answered) for live, name in watches.items()},
    )
    assert grid_page.page.title().startswith(title)

    # a secret post from alice's kernel, then a delete by alice
    secret_id, _ = post_from_alices_kernel(hub, secret=True)
    watches = {
        gallery: gallery.note_when(f'li.jb-card[data-id="{grid_id}"]', present=False),
        wall: wall.note_when(f'li.jb-tile[data-id="{grid_id}"]', present=False),
        grid_page: grid_page.note_when(".jb-deleted", "This grid was deleted."),
    }
    answered = delete_as_alice(hub, grid_id)
    all_within(
        measured,
        "delete",
        {live.name: live.seen_ms(name, answered) for live, name in watches.items()},
    )
    page.wait_for_timeout(500)  # anything else that was coming has come
    for live in (gallery, wall, grid_page):
        live.never_showed(secret_id)
        assert not live.errors, (live.name, [error.message for error in live.errors])
    log.info("ms from each change's answer to each page showing it: %s", measured)


def test_through_the_hub_bobs_panel_and_open_grid_tab_follow_another_user(
    page: Page, page_errors: list[Error], gallery_hub: Hub
) -> None:
    hub = gallery_hub
    measured: dict[str, int] = {}
    events = listen_to_events(page)
    log_in(page, hub.url, "bob")
    open_gallery_on(page, hub.url, "bob")
    expect(page.locator(CARD).first).to_be_visible(timeout=LOAD_TIMEOUT)
    events.wait_for_hello(page)
    assert [f"/services/{SERVICE}/blocks/api/events" in s.url for s in events.sockets] == [True]
    page.wait_for_timeout(QUIET_MS)
    lab = LivePage("panel", page, events, [])
    lab.note_arrivals()

    grid = post_as(hub, "alice", "Alice's, for bob's panel")
    answered = time.time()
    all_within(measured, "post", {"card": lab.arrival_ms(grid["id"], answered)})
    card = page.locator(card_selector(grid["id"]))
    expect(card.locator(".jp-BlocksGallery-cardTitle")).to_have_text("Alice's, for bob's panel")
    card.click()
    tab = grid_tab(page, grid["id"])
    expect(tab.locator(".jp-BlocksGridView-title")).to_have_text("Alice's, for bob's panel")

    title = "Renamed by alice, seen by bob"
    watches = {
        "card": lab.note_when(f"{card_selector(grid['id'])} .jp-BlocksGallery-cardTitle", title),
        "tab": lab.note_when(f"{tab_selector(grid['id'])} .jp-BlocksGridView-title", title),
    }
    answered = rename_as_alice(hub, grid["id"], title)
    all_within(
        measured, "rename", {where: lab.seen_ms(name, answered) for where, name in watches.items()}
    )

    secret = hub.as_user("alice").post(
        hub.gallery("api/grids"),
        json=grid_payload(9, title="Alice's secret for no one", secret=True),
        timeout=30,
    )
    assert secret.status_code == 201, secret.text
    watches = {
        "card": lab.note_when(card_selector(grid["id"]), present=False),
        "tab": lab.note_when(f"{tab_selector(grid['id'])} .jp-BlocksGridView-removed"),
    }
    answered = delete_as_alice(hub, grid["id"])
    all_within(
        measured, "delete", {where: lab.seen_ms(name, answered) for where, name in watches.items()}
    )
    expect(tab.locator(".jp-BlocksGridView-removed")).to_contain_text("This grid was deleted")
    page.wait_for_timeout(500)  # anything else that was coming has come
    lab.never_showed(secret.json()["id"])
    expect(page.get_by_text("Alice's secret for no one")).to_have_count(0)
    log.info("ms from each change's answer to the panel showing it: %s", measured)


def card_selector(grid_id: str) -> str:
    return f'#jupyter-blocks-gallery {CARD}[data-grid-id="{grid_id}"]'


def tab_selector(grid_id: str) -> str:
    return f'[id="jupyter-blocks-grid-{grid_id}"]'

"""The panel on a real JupyterHub whose gallery is the `jupyter blocks serve` service.

bob logs in to the Hub in chromium and opens JupyterLab on his server; the panel talks to the
gallery service straight from the browser (the Hub's OAuth cookie, the XSRF token of the
service's session page on writes, no Lab token), shows alice's and his own grids, deletes his
own and offers no delete for alice's. The Hub and the service are the ones
tests/test_hub_service.py builds from `jupyter blocks hub-config`.
"""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Error, Page, Request, expect

from tests.test_hub_service import SERVICE, Hub, hub  # noqa: F401 - the module's Hub fixture

from .ui import CARD, LOAD_TIMEOUT, grid_tab, log_in, open_gallery_on, post_as

pytestmark = pytest.mark.browser

TOOLBAR_ITEM = '.jp-Toolbar-item[data-jp-item-name="{}"]'


def test_panel_on_the_hub_uses_the_gallery_service_as_the_logged_in_user(
    page: Page,
    page_errors: list[Error],
    hub: Hub,  # noqa: F811 - the fixture imported above
) -> None:
    alices = post_as(hub, "alice", "Alice's on the Hub")
    bobs = post_as(hub, "bob", "Bob's on the Hub")
    service_requests: list[Request] = []
    page.on(
        "request",
        lambda request: (
            service_requests.append(request)
            if f"/services/{SERVICE}/blocks/" in request.url
            else None
        ),
    )

    log_in(page, hub.url, "bob")
    open_gallery_on(page, hub.url, "bob")

    cards = page.locator(CARD)
    expect(cards.first).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator(f'{CARD}[data-grid-id="{alices["id"]}"]')).to_be_visible()
    bobs_card = page.locator(f'{CARD}[data-grid-id="{bobs["id"]}"]')
    expect(bobs_card).to_be_visible()

    # alice's grid: bob may look, not delete or rename.
    page.locator(f'{CARD}[data-grid-id="{alices["id"]}"]').click()
    tab = grid_tab(page, alices["id"])
    expect(tab.locator(".jp-BlocksGridView-title")).to_have_text("Alice's on the Hub")
    expect(tab.locator('dd[data-field="author"]')).to_have_text("alice")
    expect(tab.locator(TOOLBAR_ITEM.format("download-png"))).to_be_visible()
    expect(tab.locator(TOOLBAR_ITEM.format("delete"))).to_have_count(0)
    expect(tab.locator(TOOLBAR_ITEM.format("rename"))).to_have_count(0)

    # bob's own grid: deleted through the service, with the XSRF token api/me gave.
    bobs_card.click()
    tab = grid_tab(page, bobs["id"])
    tab.locator(TOOLBAR_ITEM.format("delete")).click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(tab).to_have_count(0)
    expect(bobs_card).to_have_count(0)
    gone = requests.get(
        hub.gallery(f"api/grids/{bobs['id']}"),
        timeout=30,
        headers={"Authorization": f"token {hub.tokens['alice']}"},
    )
    assert gone.status_code == 404

    urls = [request.url for request in service_requests]
    assert urls[0] == hub.gallery("session"), urls  # the session page first (hidden frame)
    deletes = [r for r in service_requests if r.method == "DELETE"]
    assert len(deletes) == 1
    assert deletes[0].all_headers().get("x-xsrftoken")
    api_requests = [r for r in service_requests if r.resource_type == "fetch"]
    assert len(api_requests) > 2
    for request in api_requests:
        assert request.all_headers().get("x-xsrftoken")  # the Hub wants it on every fetch
        assert "authorization" not in request.all_headers(), request.url  # no Lab token
        assert "token=" not in request.url


def test_in_alices_shared_lab_bob_is_bob_and_a_moderator_deletes_anyones_grid(
    page: Page,
    page_errors: list[Error],
    hub: Hub,  # noqa: F811 - the fixture imported above
) -> None:
    alices = post_as(hub, "alice", "Alice's, shared")
    bobs = post_as(hub, "bob", "Bob's, seen from alice's server")
    shared = hub.admin.post(f"{hub.url}hub/api/shares/alice/", json={"user": "bob"}, timeout=30)
    assert shared.status_code in (200, 201), shared.text

    # bob in alice's JupyterLab: the gallery service still knows him as bob
    log_in(page, hub.url, "bob")
    open_gallery_on(page, hub.url, "alice")
    page.locator(f'{CARD}[data-grid-id="{alices["id"]}"]').click()
    tab = grid_tab(page, alices["id"])
    expect(tab.locator('dd[data-field="author"]')).to_have_text("alice")
    expect(tab.locator(TOOLBAR_ITEM.format("delete"))).to_have_count(0)
    page.locator(f'{CARD}[data-grid-id="{bobs["id"]}"]').click()
    expect(grid_tab(page, bobs["id"]).locator(TOOLBAR_ITEM.format("delete"))).to_be_visible()

    # the moderator, in their own JupyterLab, may delete alice's grid
    assert page.context.browser is not None
    moderator = page.context.browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        mod_page = moderator.new_page()
        log_in(mod_page, hub.url, "mod")
        open_gallery_on(mod_page, hub.url, "mod")
        mod_page.locator(f'{CARD}[data-grid-id="{alices["id"]}"]').click()
        tab = grid_tab(mod_page, alices["id"])
        tab.locator(TOOLBAR_ITEM.format("delete")).click()
        mod_page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
        expect(tab).to_have_count(0)
    finally:
        moderator.close()
    gone = hub.as_user("alice").get(hub.gallery(f"api/grids/{alices['id']}"), timeout=30)
    assert gone.status_code == 404

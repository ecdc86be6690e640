"""The panel on a real JupyterHub with `c.JupyterHub.subdomain_host` (tests/subdomain_hub.py),
in chromium with `--host-resolver-rules` mapping `*.hub.test` to 127.0.0.1.

alice's JupyterLab is at alice.hub.test, the gallery service at blocks--service.hub.test: the
panel lists, renames and deletes as alice across origins (the session page posts the XSRF token
to her server's origin alone, CORS with credentials for the rest), and sees a new grid live.
A page on bob's server's origin, opened with alice's cookies, gets nothing from the service and
changes nothing; bob in alice's shared JupyterLab is told the gallery opens on his own server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Error, Page, Request, expect

from tests.subdomain_hub import DOMAIN, SubdomainHub, running_subdomain_hub
from tests.utils import grid_payload

from .servers import CHROMIUM, CHROMIUM_ARGS
from .ui import CARD, LOAD_TIMEOUT, SIDEBAR_TAB, STEP_TIMEOUT, grid_tab, log_in, open_gallery_on

pytestmark = pytest.mark.browser

TOOLBAR_ITEM = '.jp-Toolbar-item[data-jp-item-name="{}"]'


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SubdomainHub]:
    with running_subdomain_hub(tmp_path_factory.mktemp("subdomain-hub-browser")) as running:
        yield running


@pytest.fixture(scope="module")
def resolving_chromium(chromium: Browser) -> Iterator[Browser]:
    """chromium (of the package's Playwright) that finds hub.test and its subdomains at
    127.0.0.1, as wildcard DNS would."""
    browser = chromium.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            f"--host-resolver-rules=MAP *.{DOMAIN} 127.0.0.1, MAP {DOMAIN} 127.0.0.1",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture
def page(resolving_chromium: Browser) -> Iterator[Page]:
    context = resolving_chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def post_as(hub: SubdomainHub, user: str, title: str) -> dict[str, Any]:
    response = hub.request(
        "POST", hub.gallery_url("api/grids"), hub.tokens[user], json=grid_payload(5, title=title)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def stored(hub: SubdomainHub, grid_id: str) -> requests.Response:
    return hub.request("GET", hub.gallery_url(f"api/grids/{grid_id}"), hub.tokens["alice"])


def test_panel_on_a_subdomain_hub_lists_renames_and_deletes_as_the_user(
    page: Page, page_errors: list[Error], hub: SubdomainHub
) -> None:
    alices = post_as(hub, "alice", "Alice's on her own host")
    doomed = post_as(hub, "alice", "Alice's, to delete")
    bobs = post_as(hub, "bob", "Bob's, seen by alice")
    service_requests: list[Request] = []
    page.on(
        "request",
        lambda request: (
            service_requests.append(request) if request.url.startswith(hub.service_origin) else None
        ),
    )

    log_in(page, f"{hub.origin()}/", "alice")
    open_gallery_on(page, f"{hub.origin('alice')}/", "alice")
    assert page.url.startswith(hub.origin("alice"))

    card = page.locator(f'{CARD}[data-grid-id="{alices["id"]}"]')
    expect(card).to_be_visible(timeout=LOAD_TIMEOUT)
    expect(page.locator(f'{CARD}[data-grid-id="{bobs["id"]}"]')).to_be_visible()
    # thumbnails come from the service's host too (fetched with the XSRF token)
    thumbnail = card.locator("img")
    expect(thumbnail).to_have_attribute("src", re.compile(r"^blob:"))

    # bob's grid: alice may look, not delete or rename
    page.locator(f'{CARD}[data-grid-id="{bobs["id"]}"]').click()
    tab = grid_tab(page, bobs["id"])
    expect(tab.locator('dd[data-field="author"]')).to_have_text("bob")
    expect(tab.locator(TOOLBAR_ITEM.format("delete"))).to_have_count(0)

    # her own: renamed, then another deleted, through the service on its own host
    card.click()
    tab = grid_tab(page, alices["id"])
    tab.locator(TOOLBAR_ITEM.format("rename")).click()
    page.locator(".jp-Dialog input").fill("Renamed across origins")
    page.locator(".jp-Dialog").get_by_role("button", name="Rename").click()
    expect(tab.locator(".jp-BlocksGridView-title")).to_have_text("Renamed across origins")
    assert stored(hub, alices["id"]).json()["title"] == "Renamed across origins"

    page.locator(f'{CARD}[data-grid-id="{doomed["id"]}"]').click()
    tab = grid_tab(page, doomed["id"])
    tab.locator(TOOLBAR_ITEM.format("delete")).click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(tab).to_have_count(0)
    assert stored(hub, doomed["id"]).status_code == 404

    # a grid posted now shows without a reload: the event stream's websocket, cross-origin
    live = post_as(hub, "alice", "Posted while the panel is open")
    expect(page.locator(f'{CARD}[data-grid-id="{live["id"]}"]')).to_be_visible(timeout=STEP_TIMEOUT)

    urls = [request.url for request in service_requests]
    assert urls[0] == hub.gallery_url("session"), urls  # the hidden frame first
    fetches = [r for r in service_requests if r.resource_type == "fetch"]
    assert {r.method for r in fetches} >= {"GET", "PATCH", "DELETE"}
    for request in fetches:
        headers = request.all_headers()
        assert headers.get("x-xsrftoken"), request.url
        assert headers.get("origin") == hub.origin("alice"), request.url
        assert "authorization" not in headers, request.url


# Run on a page of another user's server's origin, in the browser of someone logged in to the
# service (their cookies go with every request), with their real XSRF token if the test has it.
TRY_THE_SERVICE = """async ([gallery, gridId, token]) => {
    const outcome = async call => {
        try {
            const response = await call();
            return `read ${response.status}`;
        } catch (error) {
            return 'refused';
        }
    };
    const session = await new Promise(resolve => {
        const frame = document.createElement('iframe');
        frame.src = gallery + 'session';
        window.addEventListener('message', event => resolve(event.data));
        setTimeout(() => resolve(null), 5000);
        document.body.appendChild(frame);
    });
    return {
        session,
        me: await outcome(() => fetch(gallery + 'api/me', { credentials: 'include' })),
        list: await outcome(() =>
            fetch(gallery + 'api/grids', {
                credentials: 'include',
                headers: { 'X-XSRFToken': token }
            })
        ),
        remove: await outcome(() =>
            fetch(gallery + 'api/grids/' + gridId, {
                method: 'DELETE',
                credentials: 'include',
                headers: { 'X-XSRFToken': token }
            })
        ),
        post: await outcome(() =>
            fetch(gallery + 'post', {
                method: 'POST',
                credentials: 'include',
                body: JSON.stringify({})
            })
        )
    };
}"""


def test_a_page_on_another_users_origin_gets_nothing_from_the_service(
    page: Page, page_errors: list[Error], hub: SubdomainHub
) -> None:
    alices = post_as(hub, "alice", "Alice's, targeted from bob's page")
    tokens: list[str] = []
    page.on(
        "request",
        lambda request: (
            tokens.append(request.headers["x-xsrftoken"])
            if request.url.startswith(hub.service_origin) and "x-xsrftoken" in request.headers
            else None
        ),
    )
    log_in(page, f"{hub.origin()}/", "alice")
    open_gallery_on(
        page, f"{hub.origin('alice')}/", "alice"
    )  # the service's cookies are alice's now
    expect(page.locator(f'{CARD}[data-grid-id="{alices["id"]}"]')).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    assert tokens  # alice's real XSRF token, as her panel sends it

    # A page bob's server serves to anyone (a 404 of its static files, where a page of his own
    # through extra_static_paths would be), on his host, with no CSP that stops its requests.
    # Not one Playwright makes up: chromium would refuse such a page any request to this
    # machine (local network access checks), whatever the service said.
    answer = page.goto(f"{hub.origin('bob')}/user/bob/static/a-page-of-bobs")
    assert answer is not None and answer.status == 404
    assert page.url.startswith(hub.origin("bob"))
    seen = page.evaluate(TRY_THE_SERVICE, [hub.gallery_url(""), alices["id"], tokens[-1]])

    assert seen == {
        "session": None,
        "me": "refused",
        "list": "refused",
        "remove": "refused",
        "post": "refused",
    }
    assert stored(hub, alices["id"]).status_code == 200


def test_bob_in_alices_shared_lab_is_told_to_open_his_own(
    page: Page, page_errors: list[Error], hub: SubdomainHub
) -> None:
    alices = post_as(hub, "alice", "Alice's, shared with bob")
    shared = hub.admin.post(f"{hub.url}hub/api/shares/alice/", json={"user": "bob"}, timeout=30)
    assert shared.status_code in (200, 201), shared.text
    service_requests: list[str] = []
    tokens: list[str] = []

    def seen_by_the_service(request: Request) -> None:
        if request.url.startswith(hub.service_origin):
            service_requests.append(request.url)
            if "x-xsrftoken" in request.headers:
                tokens.append(request.headers["x-xsrftoken"])

    page.on("request", seen_by_the_service)

    log_in(page, f"{hub.origin()}/", "bob")
    open_gallery_on(
        page, f"{hub.origin('bob')}/", "bob"
    )  # his own: the service's cookies are bob's now
    expect(page.locator(f'{CARD}[data-grid-id="{alices["id"]}"]')).to_be_visible(
        timeout=LOAD_TIMEOUT
    )
    service_requests.clear()
    assert tokens

    open_gallery_on(page, f"{hub.origin('alice')}/", "alice")
    assert page.url.startswith(hub.origin("alice"))
    error = page.locator(".jp-BlocksGallery-error")
    expect(error).to_contain_text("your own server", timeout=LOAD_TIMEOUT)
    assert service_requests == []

    # and the service, asked from alice's origin with bob's cookies and his real XSRF token
    # (as his own panel sent it) anyway, refuses
    seen = page.evaluate(TRY_THE_SERVICE, [hub.gallery_url(""), alices["id"], tokens[-1]])
    assert seen["session"] is None
    assert {seen[call] for call in ("me", "list", "remove", "post")} == {"refused"}
    assert stored(hub, alices["id"]).status_code == 200


def test_gallery_pages_on_the_services_host_and_back_to_jupyterlab(
    page: Page, page_errors: list[Error], hub: SubdomainHub
) -> None:
    alices = post_as(hub, "alice", "Alice's, on the gallery page")
    log_in(page, f"{hub.origin()}/", "alice")

    # her server's blocks/ URL sends the browser to the service on its own host
    page.goto(f"{hub.origin('alice')}/user/alice/blocks/{alices['id']}", timeout=LOAD_TIMEOUT)
    expect(page.locator("h1.jb-title")).to_contain_text(
        "Alice's, on the gallery page", timeout=LOAD_TIMEOUT
    )
    assert page.url == hub.gallery_url(alices["id"])

    # and "Open in JupyterLab" goes through the Hub's host to her own server's JupyterLab
    page.get_by_role("link", name="Open in JupyterLab").click()
    page.locator(SIDEBAR_TAB).wait_for(timeout=LOAD_TIMEOUT)
    assert page.url.startswith(f"{hub.origin('alice')}/user/alice/lab"), page.url

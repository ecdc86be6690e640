"""Share links in a browser on a JupyterHub with no public URL configured (issue 21, point 5).

The Hub of tests/test_share_links.py (a free port, exactly the `hub-config` fragment without
`--public-url`): chromium opens it as `localhost:<port>`, which nothing in its config names. The
grid pages' remix links and a kernel's `post_to_web()` link open there, in the browser.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Error, Page, expect

from tests.test_share_links import (  # noqa: F401 - the module's Hub fixture
    POST_FROM_KERNEL,
    LinksHub,
    links_hub,
    post_through_hub,
)

from .ui import LOAD_TIMEOUT, log_in

pytestmark = pytest.mark.browser


def test_remix_links_open_on_the_host_the_browser_opened(
    page: Page,
    page_errors: list[Error],
    links_hub: LinksHub,  # noqa: F811 - the fixture imported above
) -> None:
    parent = post_through_hub(links_hub, "alice", title="Parent in a browser")
    remix = post_through_hub(links_hub, "bob", title="Remix in a browser", parent=parent["id"])
    log_in(page, links_hub.public, "carol")

    page.goto(links_hub.gallery(str(remix["id"])), timeout=LOAD_TIMEOUT)
    to_parent = page.locator(".jb-lineage a")
    expect(to_parent).to_have_text("Parent in a browser")
    parent_url = links_hub.gallery(str(parent["id"]))
    assert to_parent.evaluate("link => link.href") == parent_url
    to_parent.click()
    expect(page).to_have_url(parent_url)
    to_remix = page.locator(".jb-remixes a")
    expect(to_remix).to_have_text("Remix in a browser")
    to_remix.click()
    expect(page).to_have_url(links_hub.gallery(str(remix["id"])))
    expect(page.locator(".jb-title")).to_have_text("Remix in a browser")


def test_a_kernels_link_opens_in_its_users_browser(
    page: Page,
    page_errors: list[Error],
    links_hub: LinksHub,  # noqa: F811 - the fixture imported above
) -> None:
    log_in(page, links_hub.public, "carol")
    # carol opens JupyterLab on her server: it learns where her browser opens the Hub
    page.goto(
        f"{links_hub.public}user/carol/lab", wait_until="domcontentloaded", timeout=LOAD_TIMEOUT
    )

    url = links_hub.kernel("carol", POST_FROM_KERNEL).strip()

    assert url.startswith(links_hub.gallery()), url
    page.goto(url, timeout=LOAD_TIMEOUT)
    expect(page).to_have_url(url)
    expect(page.locator(".jb-author")).to_have_text("carol")
    expect(page.locator(".jb-grid-page")).to_have_attribute("data-grid-id", url.rsplit("/", 1)[1])

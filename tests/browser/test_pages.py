"""The HTML pages' script (static `blocks.js`) in Debian's chromium: times in the viewer's own
time zone, the copy button of the load snippet, the header and search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Error, Page, expect

from tests.utils import Server, grid_payload

pytestmark = pytest.mark.browser

VIEWER_ZONE = "Asia/Kolkata"  # UTC+5:30: a local time that differs from UTC in hour and minute


@pytest.fixture
def viewer(chromium: Browser) -> Iterator[tuple[Page, list[Error]]]:
    """A page in a browser set to India's time zone and US English, allowed the clipboard."""
    context = chromium.new_context(
        timezone_id=VIEWER_ZONE,
        locale="en-US",
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page, errors
    context.close()
    assert not errors, [error.message for error in errors]


def us_medium_short(moment: datetime) -> str:
    """What `Intl.DateTimeFormat('en-US', {dateStyle: 'medium', timeStyle: 'short'})` shows."""
    hour = moment.hour % 12 or 12
    return f"{moment:%b} {moment.day}, {moment.year}, {hour}:{moment:%M} {moment:%p}"


def test_grid_page_shows_local_time_and_copies_the_snippet(
    viewer: tuple[Page, list[Error]], lab: Server
) -> None:
    page, _ = viewer
    grid = lab.post_grid(grid_payload(1, title="Pages in a browser"))
    page.goto(f"{grid['url']}?token={lab.token}")

    created = datetime.fromisoformat(grid["created"])
    shown = page.locator("time.jb-local").first
    expected = us_medium_short(created.astimezone(ZoneInfo(VIEWER_ZONE)))
    expect(shown).not_to_have_text(created.strftime("%Y-%m-%d %H:%M UTC"))
    assert shown.inner_text().replace("\u202f", " ") == expected
    assert shown.get_attribute("title") == created.strftime("%Y-%m-%d %H:%M UTC")

    page.get_by_role("button", name="Copy").click()
    expect(page.locator("button.jb-copy")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#jb-load-snippet").inner_text()
    assert f'BlockGrid.from_web("{grid["id"]}")' in copied


def test_header_search_finds_a_grid_by_part_of_its_title(
    viewer: tuple[Page, list[Error]], lab: Server
) -> None:
    page, _ = viewer
    lab.post_grid(grid_payload(2, title="Zebra stripes in the browser"))
    page.goto(f"{lab.url}blocks/?token={lab.token}")
    search = page.locator(".jb-header input[name=q]")
    search.fill("ZEBRA STRIPES")
    search.press("Enter")
    expect(page.locator(".jb-card-title")).to_have_text(["Zebra stripes in the browser"])
    expect(page.locator(".jb-nav a", has_text="Open in JupyterLab")).to_have_attribute(
        "href", "/lab"
    )

"""The panel in service mode: with the PageConfig option `jupyterBlocksServiceUrl`, every call goes
to that path on the page's own origin with the browser's cookies and no Lab token.

A real JupyterHub gallery service is tested in tests/test_jupyterhub.py; here the option names
the Lab server's own `blocks/` root, which also authenticates the browser by its login cookie,
so what is checked is the panel's side: where it sends its requests and with which credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Error, Page, Request, expect

from tests.utils import Server, start_server, stop_server

from .servers import LAB_ARGS, Seeded
from .ui import CARD, grid_tab, open_gallery

pytestmark = pytest.mark.browser


@pytest.fixture
def lab_in_service_mode(browser_home: Path, db_file: Path, seeded: Seeded) -> Iterator[Server]:
    """JupyterLab on the seeded database whose page names `/blocks/` as the gallery service."""
    home = browser_home / "service-mode"
    (home / "config").mkdir(parents=True, exist_ok=True)
    page_config = {"page_config_data": {"jupyterBlocksServiceUrl": "/blocks/"}}
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"tornado_settings": page_config}})
    )
    server = start_server(
        "lab-service-mode",
        "lab",
        home,
        [*LAB_ARGS, f"--BlocksApp.db_url=sqlite:///{db_file}", "--BlocksApp.default_author=carol"],
    )
    yield server
    stop_server(server)


def test_service_mode_calls_the_service_root_with_cookies_and_no_lab_token(
    page: Page, page_errors: list[Error], lab_in_service_mode: Server
) -> None:
    server = lab_in_service_mode
    blocks_requests: list[Request] = []
    page.on(
        "request",
        lambda request: blocks_requests.append(request) if "/blocks/" in request.url else None,
    )
    panel = open_gallery(page, server)
    cards = panel.locator(CARD)
    expect(cards).to_have_count(24)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-BlocksGallery-card img')]"
        ".slice(0, 4).every(img => img.complete && img.naturalWidth > 0)"
    )
    grid_id = cards.first.get_attribute("data-grid-id")
    cards.first.click()
    expect(grid_tab(page, str(grid_id)).locator("canvas.jp-BlocksGrid")).to_be_visible()

    urls = [request.url for request in blocks_requests]
    assert urls[0] == f"{server.url}blocks/session"  # loaded first, in a hidden frame
    assert any(url.startswith(f"{server.url}blocks/api/grids?limit=24") for url in urls)
    # The tab's record without its blocks, and the blocks packed, from the service too.
    assert f"{server.url}blocks/api/grids/{grid_id}?blocks=false" in urls
    assert f"{server.url}blocks/api/grids/{grid_id}/pixels" in urls
    for request in blocks_requests:
        headers = request.all_headers()
        assert "authorization" not in headers, request.url  # no Lab token ...
        assert "token=" not in request.url
        assert "username-" in headers.get("cookie", ""), request.url  # ... its login cookie

"""Fixtures of the browser tests: real Jupyter servers on one SQLite file, and Debian's chromium.

- `lab`: `jupyter lab` as alice (`--BlocksApp.default_author=alice`), the server the browser uses;
- `bob`: a plain `jupyter server` as bob on the same database, to post grids by another user;
- `seeded`: 30 grids (more than one page of the default 24), posted by alice and bob in turns;
- `lab_without_blocks`: `jupyter lab` with the jupyter-blocks server extension disabled;
- `page`: a fresh page in Debian's chromium (never `playwright install`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, sync_playwright

from tests.utils import ARTIFACTS, Server, grid_payload, start_server, stop_server

from .servers import CHROMIUM, CHROMIUM_ARGS, LAB_ARGS, Seeded
from .ui import STEP_TIMEOUT


@pytest.fixture(scope="package")
def browser_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return tmp_path_factory.mktemp("jupyter-blocks-browser")


@pytest.fixture(scope="package")
def db_file(browser_home: Path) -> Path:
    return browser_home / "blocks.sqlite"


@pytest.fixture(scope="package")
def lab(browser_home: Path, db_file: Path) -> Iterator[Server]:
    """JupyterLab as alice, the server the browser talks to."""
    server = start_server(
        "lab",
        "lab",
        browser_home / "lab",
        [
            *LAB_ARGS,
            f"--BlocksApp.db_url=sqlite:///{db_file}",
            "--BlocksApp.default_author=alice",
        ],
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="package")
def bob(browser_home: Path, db_file: Path, lab: Server) -> Iterator[Server]:
    """A second server on the same database whose user is bob (started after `lab` migrated it)."""
    server = start_server(
        "bob",
        "server",
        browser_home / "bob",
        [f"--BlocksApp.db_url=sqlite:///{db_file}", "--BlocksApp.default_author=bob"],
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="package")
def lab_without_blocks(browser_home: Path) -> Iterator[Server]:
    """JupyterLab with the jupyter-blocks server extension disabled (the panel is still there)."""
    home = browser_home / "disabled"
    (home / "config").mkdir(parents=True)
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_blocks": False}}})
    )
    server = start_server("lab-without-blocks", "lab", home, LAB_ARGS)
    yield server
    stop_server(server)


@pytest.fixture(scope="package")
def seeded(lab: Server, bob: Server) -> Seeded:
    """30 grids, alice's and bob's in turns, posted through their own servers (newest untitled)."""
    alice_grids, bob_grids = [], []
    for number in range(29):
        if number % 2:
            bob_grids.append(bob.post_grid(grid_payload(number)))
        else:
            alice_grids.append(lab.post_grid(grid_payload(number)))
    # The newest one without a title, posted like the ipythonblocks client does.
    untitled = grid_payload(29)
    del untitled["title"]
    response = bob.api("POST", "post", data=json.dumps(untitled))
    assert response.status_code == 200, response.text
    bob_grids.append(bob.all_grids(author="bob")[0])
    return Seeded(alice_grids, bob_grids)


# Playwright with Debian's chromium, headless, no video or trace (they need a download). Scoped
# to this package, not the session as pytest-playwright's fixtures are: Playwright's sync API keeps
# an asyncio loop running while it is started, which would break the async server tests after us.


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def page_errors(page: Page) -> Iterator[list[Error]]:
    """Uncaught exceptions in the page; a test fails if there is any."""
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    page.set_default_timeout(STEP_TIMEOUT)
    yield errors
    assert not errors, [f"{error.message}\n{error.stack}" for error in errors]


# pytest-jupyter (a plugin of the server tests) has two autouse fixtures that, after each test,
# run and close the current asyncio loop: here that is the loop Playwright's sync API is running.
# The browser tests start their servers as subprocesses and use no jp_* fixture: turn them off.


@pytest.fixture
def jp_asyncio_loop() -> None:
    return None


@pytest.fixture
def jp_server_cleanup() -> None:
    return None

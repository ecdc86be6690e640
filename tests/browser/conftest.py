"""Fixtures of the browser tests: real Jupyter servers on one SQLite file, and Debian's chromium.

- `lab`: `jupyter lab` as alice (`--BlocksApp.default_author=alice`), the server the browser uses;
- `bob`: a plain `jupyter server` as bob on the same database, to post grids by another user;
- `seeded`: 30 grids (more than one page of the default 24), posted by alice and bob in turns;
- `page`: pytest-playwright's page, in chromium from /usr/bin (never `playwright install`).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 90  # seconds
GALLERY_ID = "jupyter-blocks-gallery"


@dataclass
class Server:
    """A Jupyter server subprocess and how to call it."""

    name: str
    url: str  # ends with "/"
    token: str
    process: subprocess.Popen[bytes]
    log: Path
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.headers["Authorization"] = f"token {self.token}"

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call `<url>blocks/<path>` with token auth."""
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, f"{self.url}blocks/{path}", **kwargs)

    def post_grid(self, payload: dict[str, Any]) -> dict[str, Any]:
        response = self.api("POST", "api/grids", json=payload)
        assert response.status_code == 201, response.text
        return response.json()

    def all_grids(self, author: str | None = None) -> list[dict[str, Any]]:
        """Every public grid, newest first, following the `next` cursors."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        if author:
            params["author"] = author
        while True:
            response = self.api("GET", "api/grids", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            items.extend(page["items"])
            if not page["next"]:
                return items
            params["cursor"] = page["next"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(name: str, command: str, home: Path, extra_args: list[str]) -> Server:
    """Start `python -m jupyter <command>` on a free port; wait until `/api/status` answers."""
    port, token = _free_port(), secrets.token_hex(16)
    root = home / "root"
    root.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        # Keep the user's own Jupyter configuration, settings and workspaces out of the test.
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "PYTHONWARNINGS": "ignore",
    }
    args = [
        sys.executable,
        "-m",
        "jupyter",
        command,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.disable_check_xsrf=False",
        "--ServerApp.allow_root=True",  # CI runs as root
        *extra_args,
    ]
    # No "Would you like to get notified about official Jupyter news?" toast over the panel.
    notification_settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    notification_settings.mkdir(parents=True, exist_ok=True)
    (notification_settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"})
    )
    log = ARTIFACTS / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, f"http://127.0.0.1:{port}/", token, process, log)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}, see {log}")
        try:
            if server.session.get(f"{server.url}api/status", timeout=2).status_code == 200:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    _stop(server)
    raise RuntimeError(f"{name} did not answer within {SERVER_START_TIMEOUT} s, see {log}")


def _stop(server: Server) -> None:
    server.session.close()
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=20)


@pytest.fixture(scope="session")
def browser_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return tmp_path_factory.mktemp("jupyter-blocks-browser")


@pytest.fixture(scope="session")
def db_file(browser_home: Path) -> Path:
    return browser_home / "blocks.sqlite"


LAB_ARGS = [
    "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run commands
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]


@pytest.fixture(scope="session")
def lab(browser_home: Path, db_file: Path) -> Iterator[Server]:
    """JupyterLab as alice, the server the browser talks to."""
    server = _start(
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
    _stop(server)


@pytest.fixture(scope="session")
def bob(browser_home: Path, db_file: Path, lab: Server) -> Iterator[Server]:
    """A second server on the same database whose user is bob (started after `lab` migrated it)."""
    server = _start(
        "bob",
        "server",
        browser_home / "bob",
        [f"--BlocksApp.db_url=sqlite:///{db_file}", "--BlocksApp.default_author=bob"],
    )
    yield server
    _stop(server)


@pytest.fixture(scope="session")
def lab_without_blocks(browser_home: Path) -> Iterator[Server]:
    """JupyterLab with the jupyter-blocks server extension disabled (the panel is still there)."""
    home = browser_home / "disabled"
    (home / "config").mkdir(parents=True)
    (home / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_blocks": False}}})
    )
    server = _start("lab-without-blocks", "lab", home, LAB_ARGS)
    yield server
    _stop(server)


# Colourful 8x8 patterns: each grid is a gradient between two colours, in a few shapes.
PALETTE = [
    ((230, 57, 70), (255, 209, 102)),
    ((6, 214, 160), (17, 138, 178)),
    ((131, 56, 236), (255, 0, 110)),
    ((251, 86, 7), (255, 190, 11)),
    ((58, 134, 255), (131, 56, 236)),
    ((46, 196, 182), (203, 243, 240)),
    ((255, 159, 28), (231, 29, 54)),
    ((38, 70, 83), (42, 157, 143)),
]
TITLES = [
    "Sunset", "Lagoon", "Neon", "Ember", "Twilight", "Mint", "Tangerine", "Deep sea",
    "Checkers", "Diagonal", "Rings", "Stripes", "Sunrise", "Aurora", "Meadow",
]


def grid_payload(number: int, width: int = 8, height: int = 8, **changes: Any) -> dict[str, Any]:
    """A valid ipythonblocks payload with a colourful pattern chosen by `number`."""
    (r1, g1, b1), (r2, g2, b2) = PALETTE[number % len(PALETTE)]
    shape = number % 4

    def mix(row: int, col: int) -> float:
        if shape == 0:
            return (row + col) / (width + height - 2)
        if shape == 1:
            return float((row + col) % 2)
        if shape == 2:
            centre = ((row - height / 2 + 0.5) ** 2 + (col - width / 2 + 0.5) ** 2) ** 0.5
            return (round(centre) % 3) / 2
        return row / (height - 1)

    blocks = [
        [
            [
                round(r1 + (r2 - r1) * mix(row, col)),
                round(g1 + (g2 - g1) * mix(row, col)),
                round(b1 + (b2 - b1) * mix(row, col)),
                20,
            ]
            for col in range(width)
        ]
        for row in range(height)
    ]
    payload: dict[str, Any] = {
        "python_version": [3, 11, 7, "final", 0],
        "ipb_version": "1.9.1",
        "ipb_class": "BlockGrid",
        "code_cells": [
            "from ipythonblocks import BlockGrid",
            f"grid = BlockGrid({width}, {height}, fill=({r1}, {g1}, {b1}))",
        ],
        "secret": False,
        "title": f"{TITLES[number % len(TITLES)]} #{number}",
        "grid_data": {"lines_on": True, "width": width, "height": height, "blocks": blocks},
    }
    payload.update(changes)
    return payload


@dataclass
class Seeded:
    alice: list[dict[str, Any]]
    bob: list[dict[str, Any]]


@pytest.fixture(scope="session")
def seeded(lab: Server, bob: Server) -> Seeded:
    """30 grids, alice's and bob's in turns, posted through their own servers."""
    alice_grids, bob_grids = [], []
    for number in range(30):
        if number % 2:
            bob_grids.append(bob.post_grid(grid_payload(number)))
        else:
            alice_grids.append(lab.post_grid(grid_payload(number)))
    return Seeded(alice_grids, bob_grids)


# pytest-playwright: Debian's chromium, headless, no video or trace (they need a download).


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}}


@pytest.fixture(scope="session")
def base_url() -> None:
    """No base URL: the tests use absolute URLs.

    This replaces pytest-playwright's fallback `base_url` fixture (used when pytest-base-url is
    not installed), a session fixture defined as an instance method, which pytest 9 warns about
    (`PytestRemovedIn10Warning`, an error under our `filterwarnings`).
    """
    return None


# pytest-jupyter (a plugin of the server tests) has two autouse fixtures that, after each test,
# run and close the current asyncio loop: here that is the loop Playwright's sync API is running.
# The browser tests start their servers as subprocesses and use no jp_* fixture: turn them off.


@pytest.fixture
def jp_asyncio_loop() -> None:
    return None


@pytest.fixture
def jp_server_cleanup() -> None:
    return None

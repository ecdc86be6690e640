"""What the test modules share: payloads, free ports, waiting, and Jupyter servers run as
subprocesses (start, wait until they answer, stop)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from PIL import Image

# The author of grids on the test servers (`BlocksApp.default_author`).
AUTHOR = "teacher"
# Server logs and browser screenshots, kept for a look after a failed run.
ARTIFACTS = Path(__file__).parent / "artifacts"
SERVER_START_TIMEOUT = 90  # seconds


# Payloads


def make_payload(
    width: int = 3, height: int = 2, blocks: list[Any] | None = None, **changes: Any
) -> dict[str, Any]:
    """A valid ipythonblocks payload, by default of blocks that all differ, with `changes`
    applied on top."""
    if blocks is None:
        blocks = [
            [
                [(row * 40 + col) % 256, (col * 70) % 256, (row * 90 + 5) % 256, 20]
                for col in range(width)
            ]
            for row in range(height)
        ]
    payload: dict[str, Any] = {
        "python_version": [3, 11, 7, "final", 0],
        "ipb_version": "1.9.1",
        "ipb_class": "BlockGrid",
        "code_cells": None,
        "secret": False,
        "grid_data": {"lines_on": True, "width": width, "height": height, "blocks": blocks},
    }
    payload.update(changes)
    return payload


# Colourful patterns: a gradient between two colours of a palette, drawn in one of four shapes.
PALETTES = {
    "Sunset": ((230, 57, 70), (255, 209, 102)),
    "Lagoon": ((6, 214, 160), (17, 138, 178)),
    "Neon": ((131, 56, 236), (255, 0, 110)),
    "Ember": ((251, 86, 7), (255, 190, 11)),
    "Twilight": ((58, 134, 255), (131, 56, 236)),
    "Mint": ((46, 196, 182), (203, 243, 240)),
    "Tangerine": ((255, 159, 28), (231, 29, 54)),
    "Deep sea": ((38, 70, 83), (42, 157, 143)),
}
SHAPES = ["diagonal", "checkers", "rings", "stripes"]


def grid_payload(number: int, width: int = 8, height: int = 8, **changes: Any) -> dict[str, Any]:
    """A valid payload titled like "Neon rings", with code, pattern and colours by `number`."""
    palette = list(PALETTES)[number // len(SHAPES) % len(PALETTES)]
    (r1, g1, b1), (r2, g2, b2) = PALETTES[palette]
    shape = SHAPES[number % len(SHAPES)]

    def mix(row: int, col: int) -> float:
        if shape == "diagonal":
            return (row + col) / (width + height - 2)
        if shape == "checkers":
            return float((row + col) % 2)
        if shape == "rings":
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
    code = [
        "from ipythonblocks import BlockGrid",
        f"grid = BlockGrid({width}, {height}, fill=({r1}, {g1}, {b1}))",
    ]
    defaults = {"code_cells": code, "title": f"{palette} {shape}"}
    return make_payload(width, height, blocks, **{**defaults, **changes})


def exported_row(row_id: int, size: int = 10, **changes: Any) -> dict[str, Any]:
    """A grid row as `jupyter blocks export` writes it: by default a 10x10 grid with a cell of
    code, about 3 KB of JSON."""
    blocks = [
        [[row_id % 256, col * 20 % 256, row * 20 % 256, 20] for col in range(size)]
        for row in range(size)
    ]
    row = {
        "id": row_id,
        "secret": False,
        "secret_nonce": None,
        "author": "ada",
        "title": f"grid {row_id}",
        "ipb_class": "BlockGrid",
        "ipb_version": "1.9.1",
        "python_version": [3, 11, 7, "final", 0],
        "width": size,
        "height": size,
        "grid_data": {"lines_on": True, "width": size, "height": size, "blocks": blocks},
        "code_cells": ["x = 1\n" * 100],
        "thumbnail_svg": "<svg/>",
        "created_at": "2026-01-02T03:04:05+00:00",
    }
    row.update(changes)
    return row


def set_at(document: Any, path: str, value: Any) -> None:
    """Set the value at a dotted path ("grid_data.blocks.1.2") of a JSON document."""
    *parents, last = path.split(".")
    target = document
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


# Ports and waiting


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], what: str, timeout: float = 120) -> None:
    """Call `check` until it returns something true (a refused connection counts as false);
    raise TimeoutError saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{what} within {timeout} s")


# Jupyter servers as subprocesses


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
        result: dict[str, Any] = response.json()
        return result

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


def start_server(name: str, command: str, home: Path, extra_args: list[str]) -> Server:
    """Start `python -m jupyter <command>` on a free port, with its Jupyter directories under
    `home` and its log in ARTIFACTS; wait until `/api/status` answers."""
    port, token = free_port(), secrets.token_hex(16)
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
    ARTIFACTS.mkdir(exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # pytest -n: one log per worker
    log = ARTIFACTS / (f"{name}-{worker}.log" if worker else f"{name}.log")
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, f"http://127.0.0.1:{port}/", token, process, log)

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}, see {log}")
        return server.session.get(f"{server.url}api/status", timeout=2).status_code == 200

    try:
        wait_until(answers, f"{name} did not answer, see {log}", SERVER_START_TIMEOUT)
    except BaseException:
        stop_server(server)
        raise
    return server


def stop_server(server: Server) -> None:
    server.session.close()
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=20)


THUMBNAIL = re.compile(
    r'<svg xmlns="http://www\.w3\.org/2000/svg" width="(\d+)" height="(\d+)" '
    r'viewBox="0 0 (\d+) (\d+)"><image width="\3" height="\4" '
    r'style="image-rendering:pixelated" href="data:image/png;base64,([A-Za-z0-9+/=]+)"/></svg>'
)


def drawn_thumbnail(svg: str) -> Any:
    """What a thumbnail shows: the size and pixels of its picture, and its size on the page."""
    match = THUMBNAIL.fullmatch(svg)
    assert match is not None, svg
    picture = Image.open(io.BytesIO(base64.b64decode(match[5])))
    assert picture.format == "PNG" and picture.mode == "RGB"
    size = (int(match[3]), int(match[4]))
    assert picture.size == size
    return size, picture.tobytes(), (int(match[1]), int(match[2]))

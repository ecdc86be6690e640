"""jupyter-blocks on a real JupyterHub: two Hub users' single-user servers share one database.

The Hub (DummyAuthenticator, SimpleLocalProcessSpawner, configurable-http-proxy from npm) runs
as a subprocess on 127.0.0.1; the test talks to it through the proxy, as users' browsers and
kernels do, with tokens the Hub issues to each user.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from websocket import create_connection

from tests.utils import free_port, grid_payload, wait_until

USERS = ("alice", "bob")
CHP_CACHE = Path.home() / ".cache" / "jupyter-blocks-tests" / "chp"
TIMEOUT = 120  # seconds for the Hub and each server to start


def configurable_http_proxy() -> str:
    """JupyterHub's proxy, from the npm registry (installed once into a cache directory)."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    binary = CHP_CACHE / "node_modules" / ".bin" / "configurable-http-proxy"
    if not binary.exists():
        CHP_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-save",
                "--silent",
                "--prefix",
                str(CHP_CACHE),
                "configurable-http-proxy@4",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return str(binary)


@dataclass
class Hub:
    url: str
    admin: requests.Session
    tokens: dict[str, str]

    def as_user(self, name: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"token {self.tokens[name]}"
        return session

    def blocks(self, name: str, path: str) -> str:
        return f"{self.url}user/{name}/blocks/{path}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    home = tmp_path_factory.mktemp("hub")
    port, admin_token = free_port(), secrets.token_hex(16)
    config = home / "jupyterhub_config.py"
    config.write_text(f"""
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.command = [{configurable_http_proxy()!r}]
c.JupyterHub.db_url = "sqlite:///{home}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{home}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {set(USERS)!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{home}/home/{{username}}"
c.Spawner.cmd = [{sys.executable!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--allow-root"]
c.Spawner.start_timeout = {TIMEOUT}
c.Spawner.http_timeout = {TIMEOUT}
c.Spawner.environment = {{
    "JUPYTER_BLOCKS_DB_URL": "sqlite:///{home}/blocks.sqlite",
    # never used on a Hub: the author is the Hub user (the spawner also sets USER to it)
    "JUPYTER_BLOCKS_DEFAULT_AUTHOR": "not-the-hub-user",
    "PYTHONWARNINGS": "ignore",
}}
c.JupyterHub.services = [{{"name": "test-admin", "api_token": {admin_token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "test-admin",
    "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"],
    "services": ["test-admin"],
}}]
""")
    log = (home / "hub.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)],
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    url = f"http://127.0.0.1:{port}/"
    admin = requests.Session()
    admin.headers["Authorization"] = f"token {admin_token}"
    try:
        wait_until(lambda: admin.get(f"{url}hub/api/", timeout=5).ok, "the Hub did not answer")
        tokens = {}
        for name in USERS:
            assert admin.post(f"{url}hub/api/users/{name}", timeout=30).status_code in (201, 409)
            started = admin.post(f"{url}hub/api/users/{name}/server", timeout=TIMEOUT)
            assert started.status_code in (201, 202), started.text
            wait_until(
                lambda name=name: (
                    admin.get(f"{url}hub/api/users/{name}", timeout=5)
                    .json()["servers"]
                    .get("", {})
                    .get("ready")
                ),
                f"{name}'s server did not start",
            )
            issued = admin.post(
                f"{url}hub/api/users/{name}/tokens",
                json={"note": "jupyter-blocks test"},
                timeout=30,
            )
            assert issued.status_code == 201, issued.text
            tokens[name] = issued.json()["token"]
        yield Hub(url, admin, tokens)
    finally:
        for name in USERS:
            with contextlib.suppress(requests.RequestException):
                admin.delete(f"{url}hub/api/users/{name}/server", timeout=30)
        process.terminate()
        process.wait(timeout=60)
        log.close()


def test_grids_belong_to_the_hub_user_and_are_shared_between_servers(hub: Hub) -> None:
    alice, bob = hub.as_user("alice"), hub.as_user("bob")
    assert alice.get(hub.blocks("alice", "api/me"), timeout=30).json() == {"author": "alice"}
    assert bob.get(hub.blocks("bob", "api/me"), timeout=30).json() == {"author": "bob"}

    created = alice.post(hub.blocks("alice", "api/grids"), json=grid_payload(1), timeout=30)
    assert created.status_code == 201, created.text
    grid = created.json()
    assert grid["author"] == "alice"
    assert grid["url"].endswith(f"/user/alice/blocks/{grid['id']}")

    # bob's server, on the same database, knows it under the same id and will not delete it
    seen = bob.get(hub.blocks("bob", f"api/grids/{grid['id']}"), timeout=30).json()
    assert seen["author"] == "alice" and seen["owned"] is False
    refused = bob.delete(hub.blocks("bob", f"api/grids/{grid['id']}"), timeout=30)
    assert refused.status_code == 403
    # one user's token opens nothing on another user's server
    assert bob.get(hub.blocks("alice", "api/me"), timeout=30).status_code == 403
    assert (
        alice.delete(hub.blocks("alice", f"api/grids/{grid['id']}"), timeout=30).status_code == 204
    )


def run_in_kernel(hub: Hub, user: str, code: str) -> str:
    """Start a kernel on the user's server and run `code`; its standard output."""
    session = hub.as_user(user)
    kernel = session.post(f"{hub.url}user/{user}/api/kernels", json={}, timeout=60).json()
    ws_url = f"{hub.url.replace('http', 'ws', 1)}user/{user}/api/kernels/{kernel['id']}/channels"
    ws = create_connection(
        ws_url, header=[f"Authorization: token {hub.tokens[user]}"], timeout=TIMEOUT
    )
    try:
        msg_id = secrets.token_hex(8)
        ws.send(
            json.dumps(
                {
                    "channel": "shell",
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": user,
                        "session": secrets.token_hex(8),
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {
                        "code": code,
                        "silent": False,
                        "store_history": True,
                        "user_expressions": {},
                        "allow_stdin": False,
                        "stop_on_error": True,
                    },
                }
            )
        )
        output, deadline = [], time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            message = json.loads(ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            if kind == "stream":
                output.append(message["content"]["text"])
            elif kind == "error":
                raise AssertionError("\n".join(message["content"]["traceback"]))
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                return "".join(output)
        raise TimeoutError("the kernel did not finish")
    finally:
        ws.close()
        session.delete(f"{hub.url}user/{user}/api/kernels/{kernel['id']}", timeout=30)


def test_a_kernel_on_the_hub_shares_with_no_set_up(hub: Hub) -> None:
    posted = run_in_kernel(
        hub,
        "bob",
        "\n".join(
            [
                "%load_ext jupyter_blocks",
                "from ipythonblocks import BlockGrid",
                "grid = BlockGrid(4, 3, fill=(10, 200, 30))",
                "grid[1, 2].rgb = (250, 0, 0)",
                "print(grid.post_to_web())",
            ]
        ),
    )
    grid_id = posted.strip().rsplit("/", 1)[1]
    record = hub.as_user("alice").get(hub.blocks("alice", f"api/grids/{grid_id}"), timeout=30)
    assert record.json()["author"] == "bob"
    assert record.json()["grid_data"]["blocks"][1][2][:3] == [250, 0, 0]
    loaded = run_in_kernel(
        hub,
        "alice",
        "\n".join(
            [
                "%load_ext jupyter_blocks",
                "from ipythonblocks import BlockGrid",
                f"print(BlockGrid.from_web({grid_id!r})[1, 2].rgb)",
            ]
        ),
    )
    assert loaded.strip().endswith("(250, 0, 0)")

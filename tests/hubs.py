"""Running a real JupyterHub in the tests: its proxy, its users' kernels."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil
import requests
from websocket import create_connection

from tests.utils import free_port, wait_until

CHP_CACHE = Path.home() / ".cache" / "jupyter-blocks-tests" / "chp"
TIMEOUT = 120  # seconds for the Hub and each server to start, and for kernel code to run


def hub_config(db_url: str, *options: str) -> str:
    """The fragment `jupyter blocks hub-config --db-url <db_url> <options>` prints."""
    return subprocess.run(
        [sys.executable, "-m", "jupyter_blocks.cli", "hub-config", "--db-url", db_url, *options],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def logged_in(hub_url: str, name: str) -> requests.Session:
    """A browser's session logged in at the Hub's login page (`hub_url`) as `name`: cookies, no
    token (any password: DummyAuthenticator)."""
    session = requests.Session()
    session.get(f"{hub_url}hub/login", timeout=30)
    form = {"username": name, "password": "any", "_xsrf": session.cookies.get("_xsrf", "")}
    response = session.post(f"{hub_url}hub/login", data=form, timeout=30)
    assert response.ok and session.cookies.get("jupyterhub-hub-login"), response.text[:500]
    return session


def configurable_http_proxy() -> str:
    """JupyterHub's proxy, from the npm registry (installed once into a cache directory)."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    binary = CHP_CACHE / "node_modules" / ".bin" / "configurable-http-proxy"
    CHP_CACHE.mkdir(parents=True, exist_ok=True)
    # xdist workers starting Hubs at once: one installs, the others wait for it.
    with (CHP_CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            _install_configurable_http_proxy()
    return str(binary)


def _install_configurable_http_proxy() -> None:
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


def run_in_kernel(
    hub_url: str, server_owner: str, token: str, code: str, host: str | None = None
) -> str:
    """Run `code` in a new kernel on `server_owner`'s server, authenticated by `token` (the
    owner's, or a user's the server is shared with); its standard output. `host`: the Host
    header to send (a Hub with subdomains, reached at its proxy's address)."""
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    if host is not None:
        session.headers["Host"] = host
    base = f"{hub_url}user/{server_owner}/"
    started = session.post(f"{base}api/kernels", json={}, timeout=60)
    assert started.status_code == 201, started.text
    kernel_id = started.json()["id"]
    ws = create_connection(
        f"{base.replace('http', 'ws', 1)}api/kernels/{kernel_id}/channels",
        header=[f"Authorization: token {token}"],
        timeout=TIMEOUT,
        **({"host": host} if host is not None else {}),
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
                        "username": "",
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
        session.delete(f"{base}api/kernels/{kernel_id}", timeout=30)


@dataclass
class Hub:
    """A running Hub: its public URL, an admin API session and each user's API token."""

    url: str
    admin: requests.Session
    tokens: dict[str, str]
    home: Path
    # the Hub's own process (not its proxy, services or users' servers)
    pid: int = field(default=0, kw_only=True)

    def as_user(self, name: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"token {self.tokens[name]}"
        return session


def base_config(home: Path, port: int, users: tuple[str, ...], admin_token: str) -> str:
    """A Hub on 127.0.0.1 with DummyAuthenticator, local processes as users' servers and a
    `test-admin` service; a test appends its own settings (plain Python, as an admin would)."""
    return f"""
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.command = [{configurable_http_proxy()!r}]
c.JupyterHub.db_url = "sqlite:///{home}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{home}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {set(users)!r}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{home}/home/{{username}}"
c.Spawner.cmd = [{sys.executable!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--allow-root"]
c.Spawner.start_timeout = {TIMEOUT}
c.Spawner.http_timeout = {TIMEOUT}
c.JupyterHub.services = [{{"name": "test-admin", "api_token": {admin_token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "test-admin",
    "scopes": ["admin:users", "admin:servers", "admin:groups", "tokens", "access:servers",
               "shares"],
    "services": ["test-admin"],
}}]
"""


# JupyterHub gives a managed service ten one-second tries to answer, then exits; on a machine
# busy with other tests, a service's imports alone can take longer.
SERVICE_TOO_SLOW = b"Cannot connect to"


def _started_hub(config: Path, url: str, admin: requests.Session, log: IO[bytes]) -> Any:
    """A Hub process started from `config` once it answers at `url`: started again once if it
    gave up waiting for a managed service to answer."""
    for attempt in (1, 2):
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=config.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )

        def answers(process: Any = process) -> bool:
            if process.poll() is not None:
                raise HubExited
            return bool(admin.get(f"{url}hub/api/", timeout=5).ok)

        try:
            wait_until(answers, "the Hub did not answer")
            return process
        except HubExited:
            _stop_left_behind(config.parent)
            log.flush()
            said = Path(log.name).read_bytes()
            if attempt == 2 or SERVICE_TOO_SLOW not in said:
                raise AssertionError(
                    f"the Hub exited: {said[-3000:].decode(errors='replace')}"
                ) from None
    raise AssertionError("unreachable")


class HubExited(Exception):
    """The Hub process ended while starting."""


def _stop_left_behind(home: Path) -> None:
    """Kill what a Hub that exited while starting left running: its proxy and managed services
    (each in a session of its own), known by their working directory, `home`."""
    for process in psutil.process_iter(["cwd"]):
        cwd = process.info.get("cwd")
        if cwd and Path(cwd).is_relative_to(home):
            with contextlib.suppress(psutil.Error):
                process.kill()
                process.wait(timeout=10)


@contextmanager
def running_hub(
    home: Path, users: tuple[str, ...], extra_config: str, port: int | None = None
) -> Iterator[Hub]:
    """Start a Hub (base config + `extra_config`) on `port` (default: a free one), each user's
    server and a token each; stop them all afterwards. The Hub's log is `home`/hub.log."""
    port, admin_token = port or free_port(), secrets.token_hex(16)
    config = home / "jupyterhub_config.py"
    config.write_text(base_config(home, port, users, admin_token) + "\n" + extra_config)
    url = f"http://127.0.0.1:{port}/"
    admin = requests.Session()
    admin.headers["Authorization"] = f"token {admin_token}"
    log = (home / "hub.log").open("wb")
    process = _started_hub(config, url, admin, log)
    try:
        tokens = {}

        def start(name: str) -> None:
            api = requests.Session()  # one per thread
            api.headers.update(admin.headers)
            assert api.post(f"{url}hub/api/users/{name}", timeout=30).status_code in (201, 409)
            # answers when the server is up, or with 202 after the Hub's slow_spawn_timeout
            started = api.post(f"{url}hub/api/users/{name}/server", timeout=TIMEOUT)
            assert started.status_code in (201, 202), started.text
            wait_until(
                lambda: (
                    api.get(f"{url}hub/api/users/{name}", timeout=5)
                    .json()["servers"]
                    .get("", {})
                    .get("ready")
                ),
                f"{name}'s server did not start",
            )

        # All users' servers start at once: each is seconds of imports, with two CPUs.
        with ThreadPoolExecutor(len(users) or 1) as starting:
            list(starting.map(start, users))
        for name in users:
            issued = admin.post(
                f"{url}hub/api/users/{name}/tokens",
                json={"note": "jupyter-blocks test"},
                timeout=30,
            )
            assert issued.status_code == 201, issued.text
            tokens[name] = issued.json()["token"]
        yield Hub(url, admin, tokens, home, pid=process.pid)
    finally:

        def stop(name: str) -> None:
            with contextlib.suppress(requests.RequestException):
                requests.delete(
                    f"{url}hub/api/users/{name}/server", headers=admin.headers, timeout=30
                )

        with ThreadPoolExecutor(len(users) or 1) as stopping:
            list(stopping.map(stop, users))
        process.terminate()
        process.wait(timeout=60)
        log.close()


@contextmanager
def frozen(hub: Hub) -> Iterator[None]:
    """The Hub stopped (SIGSTOP), then resumed: meanwhile it accepts connections and answers
    none, while its proxy, services and users' servers run on, as when a Hub hangs."""
    assert hub.pid, "a Hub started by running_hub"
    os.kill(hub.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(hub.pid, signal.SIGCONT)

"""docs/hub.md, as a new teacher follows it: its own commands (the blocks marked `guide:`) install
JupyterHub (6, as pip gives it today), JupyterLab and jupyter-blocks into a new virtual
environment, write the base config, append the gallery with `hub-config` and start the Hub. Then a
student posts a grid from a kernel and sees it in the gallery, and the moderator the guide names
deletes it.

What the test changes, and why: paths point into a temporary directory; the proxy is the one the
other Hub tests install (no global npm install); the Hub listens on a free port of 127.0.0.1 and
the service on another; users are DummyAuthenticator's (no accounts on this machine) with
servers started by SimpleLocalProcessSpawner; a test-admin service gets a token for the API."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.hubs import TIMEOUT, configurable_http_proxy, run_in_kernel
from tests.utils import free_port, wait_until

GUIDE = Path(__file__).parent.parent / "docs" / "hub.md"
REPOSITORY = Path(__file__).parent.parent
USERS = ("alice", "ta")

pytestmark = pytest.mark.timeout(900)


def guide_block(name: str) -> str:
    """The code block that follows `<!-- guide: name -->` in docs/hub.md."""
    found = re.search(rf"<!-- guide: {name} -->\n```\w+\n(.*?)```", GUIDE.read_text(), re.S)
    assert found, f"docs/hub.md has no block marked guide: {name}"
    return found.group(1)


class Places:
    def __init__(self, root: Path, port: int) -> None:
        self.venv, self.hub = root / "venv", root / "hub"
        self.url = f"http://127.0.0.1:{port}/"
        self.port = port

    def apply(self, text: str) -> str:
        return (
            text.replace("/opt/jupyterhub", str(self.venv))
            .replace("/srv/jupyterhub", str(self.hub))
            .replace("/srv/jupyter-blocks", str(REPOSITORY))
            .replace("http://hub.example.org:8000/", self.url)
            .replace('"http://:8000"', f'"http://127.0.0.1:{self.port}"')
        )


def run_commands(block: str, places: Places, skip: str = "^$") -> None:
    """The block's shell commands, as written (continuation lines joined), with the paths."""
    script = places.apply(block)
    kept = "\n".join(
        line for line in script.replace("\\\n", " ").splitlines() if not re.search(skip, line)
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", kept],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def settings_of_the_test(places: Places, admin_token: str) -> str:
    """What the test appends to the guide's config (see the module's docstring)."""
    venv_python = places.venv / "bin" / "python"
    return f"""
# --- the test's own settings ---
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.command = [{configurable_http_proxy()!r}]
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{places.hub}/home/{{username}}"
c.Spawner.cmd = [{str(venv_python)!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = ["--allow-root"]
c.Spawner.start_timeout = {TIMEOUT}
c.Spawner.http_timeout = {TIMEOUT}
c.JupyterHub.services.append({{"name": "test-admin", "api_token": {admin_token!r}}})
c.JupyterHub.load_roles.append({{
    "name": "test-admin",
    "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"],
    "services": ["test-admin"],
}})
"""


@pytest.fixture(scope="module")
def guide_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Places, dict[str, str]]]:
    places = Places(tmp_path_factory.mktemp("guide"), free_port())
    places.hub.mkdir()
    run_commands(guide_block("install"), places, skip=r"^npm install")
    version = subprocess.run(
        [str(places.venv / "bin" / "jupyterhub"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version.startswith("6."), f"the guide installs JupyterHub {version}"
    admin_token = secrets.token_hex(16)
    config = places.hub / "jupyterhub_config.py"
    config.write_text(places.apply(guide_block("config")))
    gallery = guide_block("gallery").replace("hub-config", f"hub-config --port {free_port()}", 1)
    run_commands(gallery, places)
    with config.open("a") as appended:
        appended.write(settings_of_the_test(places, admin_token))
    start = shlex.split(places.apply(guide_block("start")).splitlines()[-1])
    log = (places.hub / "hub.log").open("wb")
    hub = subprocess.Popen(start, cwd=places.hub, stdout=log, stderr=subprocess.STDOUT)
    admin = requests.Session()
    admin.headers["Authorization"] = f"token {admin_token}"
    try:
        wait_until(lambda: admin.get(f"{places.url}hub/api/", timeout=5).ok, "no Hub")
        tokens = {}
        for name in USERS:
            assert admin.post(f"{places.url}hub/api/users/{name}", timeout=30).status_code in (
                201,
                409,
            )
            started = admin.post(f"{places.url}hub/api/users/{name}/server", timeout=TIMEOUT)
            assert started.status_code in (201, 202), started.text
            wait_until(
                lambda name=name: (
                    admin.get(f"{places.url}hub/api/users/{name}", timeout=5)
                    .json()["servers"]
                    .get("", {})
                    .get("ready")
                ),
                f"{name}'s server did not start",
            )
            made = admin.post(f"{places.url}hub/api/users/{name}/tokens", json={}, timeout=30)
            assert made.status_code == 201, made.text
            tokens[name] = made.json()["token"]
        yield places, tokens
    finally:
        for name in USERS:
            with contextlib.suppress(requests.RequestException):
                admin.delete(f"{places.url}hub/api/users/{name}/server", timeout=30)
        hub.terminate()
        try:
            hub.wait(30)
        except subprocess.TimeoutExpired:
            hub.kill()
        log.close()


def test_a_student_shares_a_grid_and_the_guides_moderator_deletes_it(
    guide_hub: tuple[Places, dict[str, str]],
) -> None:
    places, tokens = guide_hub
    shared = run_in_kernel(
        places.url,
        "alice",
        tokens["alice"],
        "from ipythonblocks import BlockGrid\n"
        "print(BlockGrid(3, 2).post_to_web(title='from the guide'))",
    ).strip()
    # the link starts with the address the guide gave hub-config (--public-url)
    assert shared.startswith(f"{places.url}services/blocks/blocks/"), shared
    grid_id = shared.rsplit("/", 1)[1]
    gallery = f"{places.url}services/blocks/blocks/api/grids"
    as_ta = {"Authorization": f"token {tokens['ta']}"}
    listed = requests.get(gallery, headers=as_ta, timeout=30)
    assert listed.status_code == 200, listed.text
    items = json.loads(listed.text)["items"]
    assert [(item["id"], item["author"]) for item in items] == [(grid_id, "alice")]
    assert items[0]["can_delete"] is True  # ta is in blocks-moderators
    deleted = requests.delete(f"{gallery}/{grid_id}", headers=as_ta, timeout=30)
    assert deleted.status_code == 204, deleted.text
    assert json.loads(requests.get(gallery, headers=as_ta, timeout=30).text)["items"] == []

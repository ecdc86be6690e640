"""The kernel side: `%load_ext jupyter_blocks`, then ipythonblocks' own `post_to_web` / `from_web`
and the `jupyter_blocks.client` helpers, in real kernels started by the real server under test.

The database backend does not matter to the client (the server tests cover both): these tests
run on SQLite only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from ipythonblocks import BlockGrid, ImageGrid
from ipythonblocks import ipythonblocks as ipb
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_server.serverapp import list_running_servers

import jupyter_blocks
from jupyter_blocks import client
from jupyter_blocks.kernel_env import ENV_TOKEN, ENV_URL, kernel_facing_url
from tests.utils import AUTHOR

KERNEL_TIMEOUT = 60.0
HTTP_TIMEOUT = 30.0
CLIENT_ENV = (
    ENV_URL,
    ENV_TOKEN,
    client.ENV_HUB_SERVICE_URL,
    client.ENV_HUB_SERVICE_PREFIX,
    client.ENV_HUB_API_TOKEN,
)
BASE_URLS = ["/", "/user/test/", "/user/a%40b/"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'blocks.sqlite'}"


@pytest.fixture
def server_token() -> str | None:
    """The server's token; None: pytest-jupyter's random one, "": no token (auth disabled)."""
    return None


@pytest.fixture
def blocks_enabled() -> bool:
    return True


@pytest.fixture
def jp_server_config(
    jp_server_config: dict[str, Any], server_token: str | None, blocks_enabled: bool
) -> dict[str, Any]:
    config = {**jp_server_config, "ServerApp": dict(jp_server_config["ServerApp"])}
    config["ServerApp"]["jpserver_extensions"] = {"jupyter_blocks": blocks_enabled}
    if server_token is not None:
        config["IdentityProvider"] = {"token": server_token}
        # pytest-jupyter sets a random token unless ServerApp.token is configured.
        config["ServerApp"]["token"] = server_token
    return config


@pytest.fixture(autouse=True)
def client_state() -> Iterator[None]:
    """Each test starts with no client connection and leaves the environment and ipythonblocks
    as it found them (the server under test exports variables into this process)."""
    saved = {name: os.environ.get(name) for name in CLIENT_ENV}
    client.disconnect()
    yield
    client.disconnect()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@dataclass(frozen=True)
class Served:
    """The server under test, listening on a real port."""

    app: Any
    port: int
    base_url: str
    token: str

    @property
    def blocks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}blocks/"

    async def get(self, url: str, **params: str) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        return await asyncio.to_thread(
            requests.get, url, params=params, headers=headers, timeout=HTTP_TIMEOUT
        )

    async def grid_record(self, grid_id: str) -> dict[str, Any]:
        response = await self.get(f"{self.blocks_url}api/grids/{grid_id}")
        assert response.status_code == 200, response.text
        record: dict[str, Any] = response.json()
        return record


@pytest.fixture
def served(http_server: Any, jp_serverapp: Any, jp_http_port: int, jp_base_url: str) -> Served:
    return Served(jp_serverapp, jp_http_port, jp_base_url, jp_serverapp.identity_provider.token)


class Kernel:
    """A kernel started by the server under test, driven through its own client."""

    def __init__(self, kernel_client: Any) -> None:
        self._client = kernel_client

    async def run(self, code: str, *, store_history: bool = False) -> str:
        """Execute `code`; its text output. Fails the test if the code raises."""
        outputs: list[str] = []

        def collect(message: dict[str, Any]) -> None:
            content = message["content"]
            if message["msg_type"] == "stream":
                outputs.append(content["text"])
            elif message["msg_type"] in ("execute_result", "display_data"):
                outputs.append(content["data"].get("text/plain", "") + "\n")
            elif message["msg_type"] == "error":
                outputs.append(ANSI.sub("", "\n".join(content["traceback"])))

        reply = await self._client.execute_interactive(
            code, store_history=store_history, timeout=KERNEL_TIMEOUT, output_hook=collect
        )
        output = "".join(outputs)
        assert reply["content"]["status"] == "ok", f"{code}\n---\n{output}"
        return output

    async def run_json(self, code: str) -> Any:
        """Execute `code`, whose last output line is JSON; that value."""
        return json.loads((await self.run(code)).strip().splitlines()[-1])


@contextlib.asynccontextmanager
async def kernel_of(
    served: Served, env: dict[str, str] | None = None, kernel_id: str | None = None
) -> AsyncIterator[Kernel]:
    """A kernel the server starts (with `env` as its environment if given), or the running
    kernel `kernel_id`; shut down after."""
    manager = served.app.kernel_manager
    if kernel_id is None:
        options: dict[str, Any] = {"env": env} if env is not None else {}
        kernel_id = await asyncio.wait_for(
            manager.start_kernel(kernel_name="python3", **options), KERNEL_TIMEOUT
        )
    kernel_client = manager.get_kernel(kernel_id).client()
    kernel_client.start_channels()
    try:
        await kernel_client.wait_for_ready(timeout=KERNEL_TIMEOUT)
        yield Kernel(kernel_client)
    finally:
        kernel_client.stop_channels()
        await asyncio.wait_for(manager.shutdown_kernel(kernel_id, now=True), KERNEL_TIMEOUT)


def grid_id_of(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[1]


COLOURFUL_GRID = """
import json
from ipythonblocks import BlockGrid, ImageGrid
grid = BlockGrid(4, 3, block_size=12)
for block in grid:
    block.rgb = (block.row * 80, block.col * 60, 255 - block.row * 40 - block.col)
print(json.dumps(grid._to_simple_grid()))
"""


# ------------------------------------------------------------- post_to_web / from_web in kernels


@pytest.mark.parametrize("jp_base_url", BASE_URLS)
async def test_post_to_web_in_a_kernel_stores_the_grid_under_the_server_user(
    served: Served,
) -> None:
    async with kernel_of(served) as kernel:
        confirmation = await kernel.run("%load_ext jupyter_blocks")
        blocks = await kernel.run_json(COLOURFUL_GRID)
        url = (await kernel.run("print(grid.post_to_web())")).strip()

        assert (
            confirmation.strip() == f"jupyter-blocks: grids go to {served.blocks_url} as {AUTHOR}"
        )
        assert url.startswith(served.blocks_url)
        grid_id = grid_id_of(url)
        record = await served.grid_record(grid_id)
        assert record["author"] == AUTHOR
        assert record["ipb_class"] == "BlockGrid"
        assert record["secret"] is False
        assert record["grid_data"]["blocks"] == blocks
        page = await served.get(url)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert AUTHOR in page.text

        loaded = await kernel.run_json(
            f"print(json.dumps(BlockGrid.from_web({grid_id!r})._to_simple_grid()))"
        )
        assert loaded == blocks


@pytest.mark.parametrize("server_token", ["", "s3cret-t0ken"])
async def test_kernel_reaches_a_server_with_or_without_a_token(served: Served) -> None:
    assert served.token == served.app.identity_provider.token
    async with kernel_of(served) as kernel:
        await kernel.run("%load_ext jupyter_blocks")
        blocks = await kernel.run_json(COLOURFUL_GRID)
        environment = await kernel.run_json(
            f"import os; print(json.dumps(os.environ.get({ENV_TOKEN!r})))"
        )
        grid_id = grid_id_of((await kernel.run("print(grid.post_to_web())")).strip())
        loaded = await kernel.run_json(
            f"print(json.dumps(BlockGrid.from_web({grid_id!r})._to_simple_grid()))"
        )
    assert environment == (served.token or None)
    assert loaded == blocks
    assert (await served.grid_record(grid_id))["author"] == AUTHOR


async def test_the_token_travels_in_a_header_never_in_ipythonblocks_urls(served: Served) -> None:
    async with kernel_of(served) as kernel:
        await kernel.run("%load_ext jupyter_blocks")
        urls = await kernel.run_json(
            "import json\nfrom ipythonblocks import ipythonblocks as ipb\n"
            "print(json.dumps([ipb._POST_URL, ipb._GET_URL_PUBLIC, ipb._GET_URL_SECRET]))"
        )
        failure = await kernel.run(
            "import requests\nfrom ipythonblocks import BlockGrid\n"
            "try:\n    BlockGrid.from_web('nosuchgrid')\n"
            "except requests.HTTPError as error:\n    print(error)"
        )
    assert urls == [
        f"{served.blocks_url}post",
        f"{served.blocks_url}get/{{0}}",
        f"{served.blocks_url}get/secret/{{0}}",
    ]
    assert "404" in failure
    assert served.token not in failure


async def test_image_grid_round_trip_keeps_class_and_origin(served: Served) -> None:
    async with kernel_of(served) as kernel:
        await kernel.run("%load_ext jupyter_blocks")
        result = await kernel.run_json(
            """
import json
from ipythonblocks import ImageGrid
from jupyter_blocks import client

def image(origin):
    grid = ImageGrid(3, 2, origin=origin, block_size=7)
    for x in range(3):
        for y in range(2):
            grid[x, y] = (x * 100, y * 200, 50 + x + y)
    return grid

lower = image("lower-left")
lower_id = lower.post_to_web().rsplit("/", 1)[1]
from_web = ImageGrid.from_web(lower_id)
loaded = client.load(lower_id)
upper_url = client.post(image("upper-left"), title="Upside")
upper = client.load(upper_url)
print(json.dumps({
    "lower_id": lower_id,
    "upper_id": upper_url.rsplit("/", 1)[1],
    "sent": lower._to_simple_grid(),
    "from_web": [type(from_web).__name__, from_web.origin, from_web._to_simple_grid()],
    "loaded": [type(loaded).__name__, loaded.origin, loaded._to_simple_grid(),
               loaded[0, 0].rgb, loaded.block_size],
    "upper": [type(upper).__name__, upper.origin, upper._to_simple_grid(), upper[0, 0].rgb],
    "upper_sent": image("upper-left")._to_simple_grid(),
}))
"""
        )
    sent = result["sent"]
    assert result["from_web"] == ["ImageGrid", "lower-left", sent]
    assert result["loaded"] == ["ImageGrid", "lower-left", sent, [0, 0, 50], 7]
    # (0, 0) is the lower-left pixel: stored in the last row, which is the bottom one.
    assert sent[-1][0] == [0, 0, 50, 7]
    assert result["upper"] == ["ImageGrid", "upper-left", result["upper_sent"], [0, 0, 50]]
    assert result["upper_sent"][0][0] == [0, 0, 50, 7]
    lower_record = await served.grid_record(result["lower_id"])
    assert lower_record["ipb_class"] == "ImageGrid"
    assert lower_record["grid_data"]["origin"] == "lower-left"
    upper_record = await served.grid_record(result["upper_id"])
    assert (upper_record["title"], upper_record["grid_data"]["origin"]) == ("Upside", "upper-left")


async def test_secret_grid_loads_by_its_secret_id_and_is_not_listed(served: Served) -> None:
    async with kernel_of(served) as kernel:
        await kernel.run("%load_ext jupyter_blocks")
        blocks = await kernel.run_json(COLOURFUL_GRID)
        result = await kernel.run_json(
            """
from jupyter_blocks import client
public_url = BlockGrid(2, 2, fill=(1, 2, 3)).post_to_web()
secret_url = grid.post_to_web(secret=True)
secret_id = secret_url.rsplit("/", 1)[1]
print(json.dumps({
    "public_url": public_url,
    "secret_url": secret_url,
    "from_web": BlockGrid.from_web(secret_id, secret=True)._to_simple_grid(),
    "load": client.load(secret_url)._to_simple_grid(),
    "gallery": [item["id"] for item in client.gallery()],
}))
"""
        )
    secret_url, public_id = result["secret_url"], grid_id_of(result["public_url"])
    secret_id = grid_id_of(secret_url)
    assert secret_url == f"{served.blocks_url}secret/{secret_id}"
    assert result["from_web"] == result["load"] == blocks
    assert result["gallery"] == [public_id]
    listed = (await served.get(f"{served.blocks_url}api/grids")).json()["items"]
    assert [item["id"] for item in listed] == [public_id]
    assert (await served.grid_record(secret_id))["secret"] is True
    assert (await served.get(secret_url)).status_code == 200


async def test_post_to_web_with_code_cells_shows_them_highlighted_and_escaped(
    served: Served,
) -> None:
    cells = [
        "from ipythonblocks import BlockGrid",
        "grid = BlockGrid(2, 2, fill=(10, 20, 30))",
        "label = \"<script>alert('pwned')</script>\"",
    ]
    async with kernel_of(served) as kernel:
        await kernel.run("%load_ext jupyter_blocks")
        for cell in cells:  # In[1], In[2], In[3]
            await kernel.run(cell, store_history=True)
        url = (await kernel.run("print(grid.post_to_web(code_cells='1:4'))")).strip()
    record = await served.grid_record(grid_id_of(url))
    assert record["code_cells"] == cells
    page = await served.get(url)
    assert page.status_code == 200
    html = page.text
    assert '<span class="kn">from</span>' in html
    assert '<span class="n">BlockGrid</span>' in html
    assert "&lt;script&gt;alert(" in html
    assert "<script>alert" not in html


async def test_kernel_finds_its_server_in_the_runtime_dir_without_the_variables(
    served: Served,
) -> None:
    async with kernel_of(served) as kernel:
        found_by = await kernel.run_json(
            f"""
import json, os
os.environ.pop({ENV_URL!r}); os.environ.pop({ENV_TOKEN!r})
from jupyter_blocks import client
connection = client.connect()
print(json.dumps([connection.url, connection.author, connection.found_by]))
"""
        )
    assert found_by == [served.blocks_url, AUTHOR, f"running server (pid {os.getpid()})"]


async def test_kernels_connect_at_start_with_the_extension_in_ipython_config(
    served: Served, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["jupyter_blocks"]\n'
    )
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    async with kernel_of(served) as kernel:
        blocks = await kernel.run_json(COLOURFUL_GRID)
        grid_id = grid_id_of((await kernel.run("print(grid.post_to_web())")).strip())
    assert (await served.grid_record(grid_id))["grid_data"]["blocks"] == blocks


async def test_disconnect_gives_ipythonblocks_back_its_own_urls_and_methods(
    served: Served,
) -> None:
    stock = (BlockGrid.__dict__["post_to_web"], BlockGrid.from_web, ImageGrid.from_web)
    await asyncio.to_thread(client.connect, served.blocks_url, served.token)
    assert f"{served.blocks_url}post" == ipb._POST_URL
    assert BlockGrid.__dict__["post_to_web"] is not stock[0]
    client.disconnect()
    assert (ipb._POST_URL, ipb._GET_URL_PUBLIC, ipb._GET_URL_SECRET) == (
        "http://www.ipythonblocks.org/post",
        "http://www.ipythonblocks.org/get/{0}",
        "http://www.ipythonblocks.org/get/secret/{0}",
    )
    assert (BlockGrid.__dict__["post_to_web"], BlockGrid.from_web, ImageGrid.from_web) == stock


async def test_a_server_that_picks_its_port_at_start_gives_kernels_that_port(
    tmp_path: Any,
) -> None:
    """`jupyter server --port=0` (or a busy port) binds after extensions load: the variables
    are set again once the server runs, so kernels get the port it listens on."""
    runtime_dir, token = tmp_path / "runtime", "port-zero-token"
    environment = {
        **{name: value for name, value in os.environ.items() if name not in CLIENT_ENV},
        "JUPYTER_RUNTIME_DIR": str(runtime_dir),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        "--port=0",
        "--ServerApp.base_url=/user/x/",
        f"--IdentityProvider.token={token}",
        "--ServerApp.jpserver_extensions={'jupyter_blocks': True}",
        f"--BlocksApp.db_url=sqlite:///{tmp_path / 'blocks.sqlite'}",
        f"--BlocksApp.default_author={AUTHOR}",
    ]
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            infos = list(list_running_servers(str(runtime_dir)))
            if infos or server.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert infos, (tmp_path / "server.log").read_text()
        blocks_url = f"http://127.0.0.1:{infos[0]['port']}/user/x/blocks/"
        # The runtime file can be written a moment before the port accepts connections.
        for _ in range(600):
            try:
                await asyncio.to_thread(
                    requests.get, blocks_url.replace("blocks/", "api/status"), timeout=HTTP_TIMEOUT
                )
                break
            except requests.ConnectionError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                await asyncio.sleep(0.1)
        started = await asyncio.to_thread(
            requests.post,
            blocks_url.replace("blocks/", "api/kernels"),
            json={"name": "python3"},
            headers={"Authorization": f"token {token}"},
            timeout=HTTP_TIMEOUT,
        )
        kernel_client = AsyncKernelClient(
            connection_file=str(runtime_dir / f"kernel-{started.json()['id']}.json")
        )
        kernel_client.load_connection_file()
        # No heartbeat: without a kernel manager, a missed beat of a busy, just-started kernel
        # reads as "kernel died"; wait_for_ready and every execution have their own timeouts.
        kernel_client.start_channels(hb=False)
        try:
            await kernel_client.wait_for_ready(timeout=KERNEL_TIMEOUT)
            confirmation = await Kernel(kernel_client).run("%load_ext jupyter_blocks")
        finally:
            kernel_client.stop_channels()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
    assert confirmation.strip() == f"jupyter-blocks: grids go to {blocks_url} as {AUTHOR}"


# ------------------------------------------------ sharing with no set-up (no %load_ext)

# Records every host name this kernel looks up or connects to from now on.
HOST_SPY = """
import socket
hosts = set()
_getaddrinfo, _create_connection = socket.getaddrinfo, socket.create_connection
def _spy_getaddrinfo(host, *args, **kwargs):
    hosts.add(host)
    return _getaddrinfo(host, *args, **kwargs)
def _spy_create_connection(address, *args, **kwargs):
    hosts.add(address[0])
    return _create_connection(address, *args, **kwargs)
socket.getaddrinfo, socket.create_connection = _spy_getaddrinfo, _spy_create_connection
"""


async def test_a_kernel_shares_with_no_load_ext(served: Served) -> None:
    async with kernel_of(served) as kernel:
        loaded_at_start = await kernel.run_json(
            "import json, sys\n"
            "print(json.dumps([name in sys.modules for name in "
            "('jupyter_blocks.kernel_hook', 'jupyter_blocks.client', 'ipythonblocks')]))"
        )
        await kernel.run(HOST_SPY)
        blocks = await kernel.run_json(COLOURFUL_GRID)
        urls = await kernel.run_json(
            "from ipythonblocks import ipythonblocks as ipb\n"
            "print(json.dumps([ipb._POST_URL, ipb._GET_URL_PUBLIC, ipb._GET_URL_SECRET]))"
        )
        url = (await kernel.run("print(grid.post_to_web())")).strip()
        loaded = await kernel.run_json(
            f"print(json.dumps(BlockGrid.from_web({grid_id_of(url)!r})._to_simple_grid()))"
        )
        image_id = grid_id_of((await kernel.run("print(ImageGrid(2, 2).post_to_web())")).strip())
        hosts = await kernel.run_json("print(json.dumps(sorted(map(str, hosts))))")
    # Only the hook is loaded at start: kernels that never import ipythonblocks load no more.
    assert loaded_at_start == [True, False, False]
    assert urls == [
        f"{served.blocks_url}post",
        f"{served.blocks_url}get/{{0}}",
        f"{served.blocks_url}get/secret/{{0}}",
    ]
    assert url.startswith(served.blocks_url)
    assert loaded == blocks
    assert (await served.grid_record(grid_id_of(url)))["author"] == AUTHOR
    assert (await served.grid_record(image_id))["ipb_class"] == "ImageGrid"
    assert hosts == ["127.0.0.1"]


async def test_a_kernel_whose_server_is_gone_says_what_to_do_and_never_tries_the_public_site(
    served: Served,
) -> None:
    gone = "http://127.0.0.1:9/blocks/"  # nothing listens on the discard port
    async with kernel_of(served, env={**os.environ, ENV_URL: gone}) as kernel:
        await kernel.run(HOST_SPY)
        result = await kernel.run_json(
            """
import json
from ipythonblocks import BlockGrid
from ipythonblocks import ipythonblocks as ipb
errors = []
for attempt in (lambda: BlockGrid(2, 2).post_to_web(), lambda: BlockGrid.from_web("Xk9aQe")):
    try:
        attempt()
    except Exception as error:
        errors.append([type(error).__name__, str(error)])
print(json.dumps({"errors": errors, "hosts": sorted(map(str, hosts)), "post": ipb._POST_URL}))
"""
        )
    assert result["post"] == f"{gone}post"
    assert [name for name, _ in result["errors"]] == ["BlocksConnectionError"] * 2
    for _, message in result["errors"]:
        assert f"Cannot reach the Jupyter server at {gone}" in message
        assert "restart the kernel from a running server" in message
        assert "ipythonblocks.org" not in message
    assert result["hosts"] == ["127.0.0.1"]


async def test_a_kernel_without_the_server_variable_keeps_stock_ipythonblocks(
    served: Served,
) -> None:
    environment = {name: value for name, value in os.environ.items() if name not in CLIENT_ENV}
    async with kernel_of(served, env=environment) as kernel:
        state = await kernel.run_json(
            "import json, sys\nfrom ipythonblocks import ipythonblocks as ipb\n"
            "print(json.dumps([ipb._POST_URL, 'jupyter_blocks.kernel_hook' in sys.modules]))"
        )
    assert state == ["http://www.ipythonblocks.org/post", False]


async def test_shared_code_cells_are_stored_as_typed(served: Served) -> None:
    typed = [
        "from ipythonblocks import BlockGrid",
        "%time grid = BlockGrid(2, 2, fill=(10, 20, 30))",
        "names = %who_ls",
    ]
    async with kernel_of(served) as kernel:
        for cell in typed:  # In[1], In[2], In[3]
            await kernel.run(cell, store_history=True)
        url = (await kernel.run("print(grid.post_to_web(code_cells='1:4'))")).strip()
        url_by_helper = (
            await kernel.run(
                'from jupyter_blocks import client\nprint(client.post(grid, code_cells="2,3"))'
            )
        ).strip()
    assert (await served.grid_record(grid_id_of(url)))["code_cells"] == typed
    assert (await served.grid_record(grid_id_of(url_by_helper)))["code_cells"] == typed[1:]


async def notebook_kernel(served: Served, path: str) -> str:
    """Start a kernel the way JupyterLab does for a notebook (a session, named after the
    notebook file): its id."""
    response = await asyncio.to_thread(
        requests.post,
        served.blocks_url.replace("blocks/", "api/sessions"),
        json={
            "path": path,
            "type": "notebook",
            "name": path.rsplit("/", 1)[-1],
            "kernel": {"name": "python3"},
        },
        headers={"Authorization": f"token {served.token}"},
        timeout=HTTP_TIMEOUT,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["kernel"]["id"])


async def test_grids_are_titled_by_the_caller_or_by_notebook_and_cell(served: Served) -> None:
    kernel_id = await notebook_kernel(served, "lessons/Colour wheel.ipynb")
    async with kernel_of(served, kernel_id=kernel_id) as kernel:
        await kernel.run("from ipythonblocks import BlockGrid\ngrid = BlockGrid(2, 2)")
        urls = {}
        await kernel.run("print(1)", store_history=True)  # In[1]
        urls["default"] = await kernel.run("print(grid.post_to_web())", store_history=True)
        urls["given"] = await kernel.run("print(grid.post_to_web(title='Mine'))")
        urls["none"] = await kernel.run("print(grid.post_to_web(title=''))")
        urls["helper"] = await kernel.run(
            "from jupyter_blocks import client\nprint(client.post(grid, title='Helper'))"
        )
        urls["helper default"] = await kernel.run("print(client.post(grid))", store_history=True)
    titles = {
        name: (await served.grid_record(grid_id_of(url.strip())))["title"]
        for name, url in urls.items()
    }
    assert titles == {
        "default": "Colour wheel · cell 2",
        "given": "Mine",
        "none": None,
        "helper": "Helper",
        "helper default": "Colour wheel · cell 3",
    }


async def test_a_grid_loaded_changed_and_posted_records_its_parent(served: Served) -> None:
    async with kernel_of(served) as kernel:
        ids = await kernel.run_json(
            """
import json
from ipythonblocks import BlockGrid, ImageGrid
from jupyter_blocks import client
original = BlockGrid(3, 3, fill=(200, 0, 0)).post_to_web(title="Original").rsplit("/", 1)[1]
remix = BlockGrid.from_web(original)
remix[0, 0].rgb = (0, 0, 255)
remixed = remix.post_to_web(title="Remix").rsplit("/", 1)[1]
again = client.load(remixed)
again[1, 1].rgb = (0, 255, 0)
remix_of_remix = client.post(again, title="Remix of remix").rsplit("/", 1)[1]
fresh = BlockGrid(1, 1).post_to_web().rsplit("/", 1)[1]
print(json.dumps([original, remixed, remix_of_remix, fresh]))
"""
        )
    original, remixed, remix_of_remix, fresh = ids
    assert (await served.grid_record(remixed))["parent"] == original
    assert (await served.grid_record(remix_of_remix))["parent"] == remixed
    assert (await served.grid_record(fresh))["parent"] is None
    remixes = (await served.grid_record(original))["remixes"]
    assert [(remix["id"], remix["title"]) for remix in remixes] == [(remixed, "Remix")]


async def test_post_from_the_package_takes_a_title(served: Served) -> None:
    await asyncio.to_thread(client.connect, served.blocks_url, served.token)
    url = await asyncio.to_thread(jupyter_blocks.post, BlockGrid(2, 2), title="Top level")
    assert url.startswith(served.blocks_url)
    assert (await served.grid_record(grid_id_of(url)))["title"] == "Top level"


async def test_errors_say_why(served: Served) -> None:
    await asyncio.to_thread(client.connect, served.blocks_url, served.token)
    with pytest.raises(client.BlocksRequestError) as too_long:
        await asyncio.to_thread(BlockGrid(1, 1).post_to_web, title="x" * 201)
    assert too_long.value.status == 400
    assert "400 Invalid grid payload: title: must be at most 200" in str(too_long.value)

    big = BlockGrid(3, 2)
    for block in big:
        block.size = 101  # bigger than the server allows: six precise errors
    with pytest.raises(client.BlocksRequestError) as many:
        await asyncio.to_thread(big.post_to_web)
    message = str(many.value)
    assert message.count("size must be an integer from 1 to 100") == 3
    assert "grid_data.blocks.0.0: " in message and message.endswith("; and 3 more")

    secret_id = grid_id_of(await asyncio.to_thread(client.post, BlockGrid(1, 1), secret=True))
    with pytest.raises(client.BlocksRequestError) as not_public:
        await asyncio.to_thread(BlockGrid.from_web, secret_id)
    assert not_public.value.status == 404
    assert f"from_web({secret_id!r}, secret=True)" in str(not_public.value)

    with pytest.raises(ValueError, match="The grid id is empty"):
        await asyncio.to_thread(BlockGrid.from_web, "")


# --------------------------------------------------------------------- connect() and discovery


@pytest.mark.parametrize("jp_base_url", BASE_URLS)
async def test_server_exports_its_kernel_facing_url_and_token(served: Served) -> None:
    await asyncio.sleep(0)  # let the re-export queued for the running loop happen
    assert os.environ[ENV_URL] == served.blocks_url
    assert os.environ[ENV_TOKEN] == served.token


@pytest.mark.parametrize("jp_base_url", BASE_URLS)
async def test_connect_with_a_jupyterhub_environment(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_URL)
    monkeypatch.delenv(ENV_TOKEN)
    # A spawner with ip 0.0.0.0 writes that into the service URL; the kernel uses loopback.
    monkeypatch.setenv(client.ENV_HUB_SERVICE_URL, f"http://0.0.0.0:{served.port}{served.base_url}")
    monkeypatch.setenv(client.ENV_HUB_SERVICE_PREFIX, served.base_url)
    monkeypatch.setenv(client.ENV_HUB_API_TOKEN, served.token)

    connection = await asyncio.to_thread(client.connect)
    assert (connection.url, connection.author, connection.found_by) == (
        served.blocks_url,
        AUTHOR,
        client.ENV_HUB_SERVICE_URL,
    )
    assert served.token not in repr(connection)
    url = await asyncio.to_thread(client.post, BlockGrid(2, 1, fill=(9, 8, 7)), title="From hub")
    assert url.startswith(served.blocks_url)
    summaries = await asyncio.to_thread(client.gallery, limit=5, author=AUTHOR)
    assert [(item["id"], item["title"]) for item in summaries] == [(grid_id_of(url), "From hub")]


@pytest.mark.parametrize("jp_base_url", ["/user/test/"])
async def test_connect_with_only_the_hub_prefix_uses_the_running_server_with_that_base_url(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_URL)
    monkeypatch.delenv(ENV_TOKEN)
    monkeypatch.delenv(client.ENV_HUB_SERVICE_URL, raising=False)
    monkeypatch.setenv(client.ENV_HUB_SERVICE_PREFIX, served.base_url)
    connection = await asyncio.to_thread(client.connect)
    assert (connection.url, connection.author) == (served.blocks_url, AUTHOR)

    monkeypatch.setenv(client.ENV_HUB_SERVICE_PREFIX, "/user/nobody/")
    with pytest.raises(client.BlocksConnectionError, match="with base_url /user/nobody/"):
        await asyncio.to_thread(client.connect)


def test_connect_without_variables_or_running_server_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in CLIENT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(client.BlocksConnectionError) as raised:
        client.connect()
    message = str(raised.value)
    assert "No Jupyter server found for this kernel" in message
    assert str(tmp_path) in message
    assert "connect(url=..., token=...)" in message
    assert ipb._POST_URL == "http://www.ipythonblocks.org/post"


@pytest.mark.parametrize("blocks_enabled", [False])
async def test_connect_to_a_server_without_the_extension_says_enable_it(served: Served) -> None:
    with pytest.raises(client.BlocksConnectionError) as raised:
        await asyncio.to_thread(client.connect, served.blocks_url, served.token)
    message = str(raised.value)
    assert "answers 404 for blocks/api/me" in message
    assert "jupyter server extension enable jupyter_blocks" in message
    assert served.token not in message


async def test_connect_with_a_wrong_token_says_it_was_refused(served: Served) -> None:
    with pytest.raises(client.BlocksConnectionError, match=r"refused this kernel's credentials"):
        await asyncio.to_thread(client.connect, served.blocks_url, "not-the-token")


def test_connect_to_a_unix_socket_server_explains_why_not() -> None:
    url = kernel_facing_url("", 0, "/", sock="/tmp/jupyter.sock")
    with pytest.raises(client.BlocksConnectionError, match="UNIX socket"):
        client.connect(url)


def test_connect_to_nothing_listening_says_it_cannot_reach_the_server() -> None:
    with pytest.raises(client.BlocksConnectionError, match="Cannot reach the Jupyter server"):
        client.connect("http://127.0.0.1:9/blocks/")


async def test_server_errors_surface_with_their_status_and_precise_errors(
    served: Served,
) -> None:
    await asyncio.to_thread(client.connect, served.blocks_url, served.token)
    with pytest.raises(client.BlocksRequestError) as raised:
        await asyncio.to_thread(client.post, BlockGrid(1, 1), title="x" * 201)
    error = raised.value
    assert isinstance(error, requests.HTTPError)
    assert error.status == 400
    assert [entry["path"] for entry in error.errors] == ["title"]
    with pytest.raises(client.BlocksRequestError) as raised:
        await asyncio.to_thread(client.load, "nosuchgrid")
    assert raised.value.status == 404


async def test_load_insists_on_the_kind_of_grid_the_url_names(served: Served) -> None:
    await asyncio.to_thread(client.connect, served.blocks_url, served.token)
    public_url = await asyncio.to_thread(client.post, BlockGrid(1, 1))
    secret_url = await asyncio.to_thread(client.post, BlockGrid(1, 1), secret=True)
    with pytest.raises(client.BlocksError, match="is not a secret grid"):
        await asyncio.to_thread(client.load, grid_id_of(public_url), secret=True)
    with pytest.raises(client.BlocksError, match="is not a secret grid"):
        await asyncio.to_thread(client.load, public_url.replace("/blocks/", "/blocks/secret/"))
    with pytest.raises(client.BlocksError, match="is not a public grid"):
        await asyncio.to_thread(client.load, secret_url.replace("/blocks/secret/", "/blocks/"))
    loaded = await asyncio.to_thread(client.load, grid_id_of(secret_url))
    assert isinstance(loaded, BlockGrid) and not isinstance(loaded, ImageGrid)


# ----------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Xk9aQe", ("Xk9aQe", None)),
        ("  Xk9aQe\n", ("Xk9aQe", None)),
        ("http://127.0.0.1:8888/blocks/Xk9aQe", ("Xk9aQe", False)),
        ("http://127.0.0.1:8888/blocks/secret/Ab12Cd34Ef", ("Ab12Cd34Ef", True)),
        ("http://127.0.0.1:8888/user/a%40b/blocks/secret/Ab12Cd34Ef", ("Ab12Cd34Ef", True)),
        ("https://hub.example.org/user/alice/blocks/Xk9aQe?token=abc#top", ("Xk9aQe", False)),
        ("/user/test/blocks/Xk9aQe/", ("Xk9aQe", False)),
        ("blocks/secret/Ab12Cd34Ef", ("Ab12Cd34Ef", True)),
        ("http://host/user/blocks/blocks/Xk9aQe", ("Xk9aQe", False)),
    ],
)
def test_parse_grid_reference_reads_ids_and_page_urls(
    reference: str, expected: tuple[str, bool | None]
) -> None:
    assert client.parse_grid_reference(reference) == expected


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "two words",
        "http://host/blocks/",
        "http://host/blocks/api/grids/Xk9aQe",
        "http://host/blocks/get/Xk9aQe",
        "http://host/lab/tree/grids.ipynb",
        "http://host/blocks/Xk9a%2FQe",
    ],
)
def test_parse_grid_reference_rejects_what_is_not_a_grid(reference: str) -> None:
    with pytest.raises(ValueError, match="grid"):
        client.parse_grid_reference(reference)


@pytest.mark.parametrize(
    ("ip", "sock", "secure", "expected"),
    [
        ("localhost", "", False, "http://127.0.0.1:8888/user/a%40b/blocks/"),
        ("", "", False, "http://127.0.0.1:8888/user/a%40b/blocks/"),
        ("0.0.0.0", "", False, "http://127.0.0.1:8888/user/a%40b/blocks/"),
        ("::", "", False, "http://[::1]:8888/user/a%40b/blocks/"),
        ("10.1.2.3", "", True, "https://10.1.2.3:8888/user/a%40b/blocks/"),
        ("fe80::1", "", False, "http://[fe80::1]:8888/user/a%40b/blocks/"),
        ("", "/run/j.sock", False, "http+unix://%2Frun%2Fj.sock/user/a%40b/blocks/"),
    ],
)
def test_kernel_facing_url(ip: str, sock: str, secure: bool, expected: str) -> None:
    assert kernel_facing_url(ip, 8888, "/user/a%40b/", sock=sock, secure=secure) == expected

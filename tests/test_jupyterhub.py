"""jupyter-blocks on a real JupyterHub: two Hub users' single-user servers share one database.

The Hub (DummyAuthenticator, SimpleLocalProcessSpawner, configurable-http-proxy from npm) runs
as a subprocess on 127.0.0.1; the test talks to it through the proxy, as users' browsers and
kernels do, with tokens the Hub issues to each user.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import hubs
from tests.utils import grid_payload

USERS = ("alice", "bob")


class Hub(hubs.Hub):
    def blocks(self, name: str, path: str) -> str:
        return f"{self.url}user/{name}/blocks/{path}"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    home = tmp_path_factory.mktemp("hub")
    every_server_holds_the_database = f"""
c.Spawner.environment = {{
    "JUPYTER_BLOCKS_DB_URL": "sqlite:///{home}/blocks.sqlite",
    # never used on a Hub: the author is the Hub user (the spawner also sets USER to it)
    "JUPYTER_BLOCKS_DEFAULT_AUTHOR": "not-the-hub-user",
    "PYTHONWARNINGS": "ignore",
}}
"""
    with hubs.running_hub(home, USERS, every_server_holds_the_database) as running:
        yield Hub(running.url, running.admin, running.tokens, home)


def test_grids_belong_to_the_hub_user_and_are_shared_between_servers(hub: Hub) -> None:
    alice, bob = hub.as_user("alice"), hub.as_user("bob")
    assert alice.get(hub.blocks("alice", "api/me"), timeout=30).json()["author"] == "alice"
    assert bob.get(hub.blocks("bob", "api/me"), timeout=30).json()["author"] == "bob"

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
    """Run `code` in a new kernel on the user's own server; its standard output."""
    return hubs.run_in_kernel(hub.url, user, hub.tokens[user], code)


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

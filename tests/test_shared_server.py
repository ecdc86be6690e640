"""The test suite's shared servers (tests/shared_server.py) keep tests apart: the next test gets
the same server, with the settings it started with and a fresh database; another configuration
gets another server. The tests run in the order written (one module, one xdist worker)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.utils import AUTHOR

pytestmark = pytest.mark.shared_server

SERVERS: list[Any] = []


async def listed(jp_fetch: Any) -> list[dict[str, Any]]:
    return list(json.loads((await jp_fetch("blocks", "api", "grids")).body)["items"])


async def test_a_test_changes_its_server(
    jp_serverapp: Any, blocks_app: Any, post_grid: Any
) -> None:
    SERVERS.append(jp_serverapp)
    await post_grid(title="left behind")
    blocks_app.page_size = 1
    blocks_app.default_author = "someone else"


async def test_the_next_test_gets_the_server_as_it_started_with_a_fresh_database(
    jp_fetch: Any, jp_serverapp: Any, blocks_app: Any, post_grid: Any
) -> None:
    if SERVERS:  # (when run after the test above)
        assert jp_serverapp is SERVERS[-1]
    assert blocks_app.page_size == 24 and blocks_app.default_author == AUTHOR
    assert await listed(jp_fetch) == []
    posted = await post_grid(title="mine")
    assert [grid["id"] for grid in await listed(jp_fetch)] == [posted["id"]]


class TestAnotherConfiguration:
    @pytest.fixture
    def blocks_config(self) -> dict[str, Any]:
        return {"page_size": 5}

    async def test_gets_another_server(self, jp_serverapp: Any, blocks_app: Any) -> None:
        assert all(jp_serverapp is not server for server in SERVERS)
        assert blocks_app.page_size == 5

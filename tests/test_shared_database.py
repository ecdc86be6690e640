"""Shared mode: several Jupyter servers (a JupyterHub's users) on one PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import fresh_database
from tests.utils import Server, grid_payload, start_server, stop_server

USERS = ["alice", "bob", "carol"]


@pytest.fixture
def servers(postgres_server: str, tmp_path: Path) -> Iterator[dict[str, Server]]:
    """Three servers, started at the same moment on one new database, one user each."""
    db_url = fresh_database(postgres_server)

    def start(user: str) -> Server:
        return start_server(
            f"shared-{user}",
            "server",
            tmp_path / user,
            [f"--BlocksApp.db_url={db_url}", f"--BlocksApp.default_author={user}"],
        )

    with ThreadPoolExecutor(len(USERS)) as pool:
        started = dict(zip(USERS, pool.map(start, USERS), strict=True))
    yield started
    for server in started.values():
        stop_server(server)


def test_servers_sharing_a_database_see_the_same_grids_under_the_same_ids(
    servers: dict[str, Server],
) -> None:
    def post_many(user: str) -> list[dict[str, Any]]:
        return [servers[user].post_grid(grid_payload(n)) for n in range(8)]

    with ThreadPoolExecutor(len(USERS)) as pool:
        posted = dict(zip(USERS, pool.map(post_many, USERS), strict=True))
    views = {user: server.all_grids() for user, server in servers.items()}
    ids = {user: [grid["id"] for grid in grids] for user, grids in views.items()}
    assert len(ids["alice"]) == 8 * len(USERS)
    assert ids["alice"] == ids["bob"] == ids["carol"]
    for user, grids in posted.items():
        assert {grid["author"] for grid in grids} == {user}
        assert {grid["id"] for grid in grids} <= set(ids["alice"])

    # One user's grid, fetched and protected through another user's server.
    alices = posted["alice"][0]
    from_bob = servers["bob"].api("GET", f"api/grids/{alices['id']}").json()
    assert from_bob["grid_data"] == alices["grid_data"] and from_bob["owned"] is False
    assert servers["bob"].api("DELETE", f"api/grids/{alices['id']}").status_code == 403
    assert servers["alice"].api("DELETE", f"api/grids/{alices['id']}").status_code == 204
    assert servers["carol"].api("GET", f"api/grids/{alices['id']}").status_code == 404

"""Fixtures shared by the test suite: a real Jupyter server with jupyter-blocks enabled, on a
fresh SQLite or PostgreSQL database per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.postgres import fresh_database, running_postgres
from tests.utils import AUTHOR, make_payload

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh, empty database: every test using it runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blocks.sqlite'}"
    return fresh_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def blocks_config() -> dict[str, Any]:
    """Extra BlocksApp settings for one test (override or update in a test module)."""
    return {}


@pytest.fixture
def jp_server_config(
    request: pytest.FixtureRequest, db_url: str, blocks_config: dict[str, Any]
) -> dict[str, Any]:
    server: dict[str, Any] = {"jpserver_extensions": {"jupyter_blocks": True}}
    if request.node.get_closest_marker("named_users"):
        # alice and bob, each with a token, as a Hub gives its users (tests/identity.py)
        server["identity_provider_class"] = "tests.identity.NamedUsersIdentityProvider"
    return {
        "ServerApp": server,
        "BlocksApp": {"db_url": db_url, "default_author": AUTHOR, **blocks_config},
    }


@pytest.fixture
def blocks_app(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings["jupyter_blocks"]


@pytest.fixture
def post_grid(jp_fetch: Any) -> Any:
    """Store a grid through the JSON API; returns the created record."""

    async def post(**changes: Any) -> dict[str, Any]:
        response = await jp_fetch(
            "blocks", "api", "grids", method="POST", body=json.dumps(make_payload(**changes))
        )
        assert response.code == 201
        return json.loads(response.body)

    return post

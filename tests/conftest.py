"""Fixtures shared by the test suite: a real Jupyter server with jupyter-blocks enabled, on a
fresh SQLite or PostgreSQL database per test."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from postgres import running_postgres

pytest_plugins = ["pytest_jupyter.jupyter_server"]

AUTHOR = "teacher"
_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with running_postgres() as url:
        yield url


def _fresh_postgres_database(server_url: str) -> str:
    name = f"blocks_test_{next(_database_numbers)}"
    with psycopg.connect(server_url.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh, empty database: every test using it runs once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blocks.sqlite'}"
    return _fresh_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def blocks_config() -> dict[str, Any]:
    """Extra BlocksApp settings for one test (override or update in a test module)."""
    return {}


@pytest.fixture
def jp_server_config(db_url: str, blocks_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_blocks": True}},
        "BlocksApp": {"db_url": db_url, "default_author": AUTHOR, **blocks_config},
    }


@pytest.fixture
def blocks_app(jp_serverapp: Any) -> Any:
    return jp_serverapp.web_app.settings["jupyter_blocks"]


def make_payload(width: int = 3, height: int = 2, **changes: Any) -> dict[str, Any]:
    """A valid ipythonblocks payload whose blocks all differ, with `changes` applied on top."""
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

"""Fixtures shared by the test suite: a real Jupyter server with jupyter-blocks enabled, on a
fresh SQLite or PostgreSQL database per test.

A server would spend most of its start-up upgrading the empty database to the newest schema, so
each kind of database is migrated once per session (per xdist worker) and a test that runs a
server gets a copy: `CREATE DATABASE ... TEMPLATE` on PostgreSQL, a copied file on SQLite."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_blocks import db
from tests.postgres import drop_database, fresh_database, running_postgres
from tests.utils import AUTHOR, make_payload

pytest_plugins = ["pytest_jupyter.jupyter_server"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With `pytest -n N --dist loadgroup` (pytest-xdist), a test module runs on one worker, so
    that its module-scoped servers and Hubs start once; the browser tests all run on one worker,
    which starts their JupyterLab servers and Chromium once."""
    for item in items:
        path = Path(item.path).relative_to(Path(__file__).parent)
        group = "browser" if path.parts[0] == "browser" else str(path)
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with running_postgres() as url:
        yield url


def _migrate(url: str) -> None:
    engine = db.create_engine(url)
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest schema (as a server makes it at start), made once."""
    path = tmp_path_factory.mktemp("migrated") / "blocks.sqlite"
    _migrate(f"sqlite:///{path}")
    assert not path.with_name(path.name + "-wal").exists(), "closed, so the file is all of it"
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_server: str) -> str:
    """The name of a PostgreSQL database at the newest schema, made once, to copy from."""
    url = fresh_database(postgres_server)
    _migrate(url)
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh database: every test using it runs once on SQLite, once on PostgreSQL. It is empty,
    unless the test runs a server on it (`jp_serverapp`): then it is already at the newest
    schema, a copy of one migrated once, as the server would have left it at start."""
    migrated = "jp_serverapp" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "blocks.sqlite"
        if migrated:
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("migrated_postgres") if migrated else None
    url = fresh_database(server, template)
    yield url
    drop_database(url)  # hundreds of databases would slow the server and fill the disk


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

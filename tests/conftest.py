"""Fixtures shared by the test suite: a real Jupyter server with jupyter-blocks enabled, on a
fresh SQLite or PostgreSQL database per test.

A server would spend most of its start-up upgrading the empty database to the newest schema, so
each kind of database is migrated once per session (per xdist worker) and a test that runs a
server gets a copy: `CREATE DATABASE ... TEMPLATE` on PostgreSQL, a copied file on SQLite.

A module marked `shared_server` runs its tests on one server per configuration, each test on its
own fresh database (tests/shared_server.py); other modules get a new server per test, as
pytest-jupyter makes them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_core.utils import ensure_event_loop
from jupyter_server.serverapp import ServerApp

from jupyter_blocks import db
from tests import gallery_hub as gallery_hubs
from tests.postgres import DatabaseCopies, fresh_database, running_postgres
from tests.shared_server import SharedServer, shares_server
from tests.utils import AUTHOR, make_payload

pytest_plugins = ["pytest_jupyter.jupyter_server"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With `pytest -n N --dist loadgroup` (pytest-xdist), a test module runs on one worker, so
    that its module-scoped servers and Hubs start once; the browser tests all run on one worker,
    which starts their JupyterLab servers, Chromium and the gallery Hub once."""
    for item in items:
        path = Path(item.path).relative_to(Path(__file__).parent)
        group = str(path)
        if path.parts[0] == "browser" or path.name == "test_hub_service.py":
            group = "browser"  # and the gallery Hub, which some browser tests use
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def gallery_hub(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: str
) -> Iterator[gallery_hubs.Hub]:
    """The class gallery on a JupyterHub (tests/gallery_hub.py), started once: the Hub tests and
    the browser tests of the panel on a Hub share it (with `pytest -n`, the same worker)."""
    with gallery_hubs.running_gallery_hub(
        tmp_path_factory.mktemp("gallery-hub"), postgres_server
    ) as hub:
        yield hub


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
def postgres_copies(postgres_server: str) -> Iterator[DatabaseCopies]:
    """Copies of a PostgreSQL database at the newest schema, migrated once."""
    url = fresh_database(postgres_server)
    _migrate(url)
    copies = DatabaseCopies(postgres_server, template=url.rsplit("/", 1)[1])
    yield copies
    copies.close()


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
    copies: DatabaseCopies = request.getfixturevalue("postgres_copies")
    url = copies.take() if migrated else fresh_database(copies.server_url)
    yield url
    copies.give_back(url)  # dropped: hundreds of databases would slow the server, fill the disk


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


# pytest-jupyter's server fixtures, except in modules marked `shared_server` (see above).


@pytest.fixture(scope="module")
def shared_server(
    tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path
) -> Iterator[SharedServer]:
    server = SharedServer(tmp_path_factory.mktemp("shared-server"), migrated_sqlite)
    yield server
    server.close()


@pytest.fixture
def jp_asyncio_loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    """The shared server's loop, or a new one closed after the test (pytest-jupyter's)."""
    if shares_server(request):
        shared: SharedServer = request.getfixturevalue("shared_server")
        asyncio.set_event_loop(shared.loop)
        yield shared.loop
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*WindowsSelectorEventLoopPolicy.*")
        loop = ensure_event_loop(prefer_selector_loop=True)
    yield loop
    loop.close()


@pytest.fixture
def jp_serverapp(
    request: pytest.FixtureRequest,
    jp_server_config: dict[str, Any],
    jp_argv: list[str],
    jp_base_url: str,
) -> Iterator[Any]:
    if not shares_server(request):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*event_loop_policy.*")
            yield request.getfixturevalue("jp_configurable_serverapp")(
                config=jp_server_config, argv=jp_argv
            )
        return
    shared: SharedServer = request.getfixturevalue("shared_server")
    yield shared.serve(jp_server_config, jp_argv, jp_base_url)
    shared.end_test()


@pytest.fixture
def http_server_port(request: pytest.FixtureRequest) -> Any:
    if shares_server(request):
        request.getfixturevalue("jp_serverapp")  # (re)started for this test's configuration
        shared: SharedServer = request.getfixturevalue("shared_server")
        return None, shared.port
    import tornado.testing

    return tornado.testing.bind_unused_port()


@pytest.fixture
def jp_http_port(request: pytest.FixtureRequest, http_server_port: Any) -> Iterator[int]:
    yield http_server_port[-1]
    if not shares_server(request):
        http_server_port[0].close()


@pytest.fixture
def http_server(
    request: pytest.FixtureRequest,
    jp_asyncio_loop: asyncio.AbstractEventLoop,
    http_server_port: Any,
    jp_web_app: Any,
) -> Iterator[Any]:
    """The shared server's HTTP server, or pytest-jupyter's (`pytest_tornasync`)."""
    if shares_server(request):
        shared: SharedServer = request.getfixturevalue("shared_server")
        yield shared.http
        return
    from tornado.httpserver import HTTPServer

    async def get_server() -> HTTPServer:
        server = HTTPServer(jp_web_app)
        server.add_socket(http_server_port[0])
        return server

    server = jp_asyncio_loop.run_until_complete(get_server())
    yield server
    server.stop()
    with contextlib.suppress(asyncio.TimeoutError):
        jp_asyncio_loop.run_until_complete(server.close_all_connections())
    http_server_port[0].close()


@pytest.fixture(autouse=True)
def jp_server_cleanup(
    request: pytest.FixtureRequest, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[None]:
    """After each test, stop the server it ran (a shared server stays for the next test)."""
    yield
    if shares_server(request):
        return
    app = ServerApp.instance()
    try:
        jp_asyncio_loop.run_until_complete(app._cleanup())
    except (RuntimeError, SystemExit) as e:
        print("ignoring cleanup error", e)  # as pytest-jupyter does
    if hasattr(app, "kernel_manager"):
        app.kernel_manager.context.destroy()
    ServerApp.clear_instance()

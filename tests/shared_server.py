"""One in-process Jupyter server for many tests of a module (`pytest.mark.shared_server`).

pytest-jupyter starts a new `ServerApp` for every test, on a new event loop. A module marked
`shared_server` keeps one server (and one loop) while its tests ask for the same configuration
(`jp_server_config` less the database, `jp_argv`, `jp_base_url`), and restarts it when they ask
for another. Each test still gets its own fresh database: before the test the extension opens the
test's `db_url`, after it the extension stops (`BlocksApp.stop_extension`, as at server
shutdown), and the `BlocksApp` settings a test changed are set back.

Only for tests that change nothing else of the server: no environment read at start-up, no
files under its directories, no kernels left running. The server is set up as pytest-jupyter sets
up its own (same `ServerApp.instance` arguments, temporary Jupyter paths, token, port).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import itertools
import json
import logging
import os
import shutil
import sys
import warnings
from binascii import hexlify
from pathlib import Path
from typing import Any

import jupyter_core.paths
import pytest
import tornado.testing
from jupyter_core.utils import ensure_event_loop
from jupyter_server.serverapp import ServerApp
from tornado.httpserver import HTTPServer
from traitlets.config import Config

MARKER = "shared_server"


def shares_server(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker(MARKER) is not None


def _key(config: dict[str, Any], argv: list[str], base_url: str) -> str:
    """What makes two tests' servers the same: everything but the database."""
    config = json.loads(json.dumps(config, default=repr))
    config.get("BlocksApp", {}).pop("db_url", None)
    return json.dumps([config, argv, base_url], sort_keys=True)


class SharedServer:
    """The running server of a module (at most one at a time) and the loop it runs on."""

    def __init__(self, home: Path, scratch_database: Path) -> None:
        self.home = home
        self.scratch_database = scratch_database
        # the loop pytest-jupyter runs each test on (until it is closed)
        self.loop = ensure_event_loop(prefer_selector_loop=True)
        self.environ = pytest.MonkeyPatch()
        self.app: Any = None
        self.http: HTTPServer | None = None
        self.port = 0
        self.key = ""
        self.open_url = ""  # the database the extension has open ("" when stopped)
        self.settings: dict[str, Any] = {}  # BlocksApp's settings as the server started
        self._numbers = itertools.count()

    @property
    def blocks(self) -> Any:
        return self.app.web_app.settings["jupyter_blocks"]

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def serve(self, config: dict[str, Any], argv: list[str], base_url: str) -> Any:
        """The server for this configuration, started if the running one has another one, with
        the extension open on `config`'s database."""
        asyncio.set_event_loop(self.loop)
        key = _key(config, argv, base_url)
        if key != self.key:
            self.stop()
            self._start(config, argv, base_url)
            self.key = key
        db_url = config["BlocksApp"]["db_url"]
        if self.open_url != db_url:
            self.blocks.db_url = db_url
            self.blocks.open_database()
            self.open_url = db_url
        return self.app

    def end_test(self) -> None:
        """Stop the extension (closing the test's database) and undo the test's settings."""
        blocks = self.blocks
        if self.open_url:
            self.run(blocks.stop_extension())
            self.open_url = ""
        # made on first use, and shut down by stop_extension
        for klass in type(blocks).__mro__:
            for name, value in vars(klass).items():
                if isinstance(value, functools.cached_property):
                    blocks.__dict__.pop(name, None)
        for name, value in self.settings.items():
            if getattr(blocks, name) != value:
                setattr(blocks, name, value)

    def _start(self, config: dict[str, Any], argv: list[str], base_url: str) -> None:
        """As pytest-jupyter's `jp_configurable_serverapp` with its `jp_environ`."""
        home = self.home / f"server-{next(self._numbers)}"
        paths = {
            name: home.joinpath(*parts)
            for name, parts in {
                "home": ["home"],
                "data": ["data"],
                "config": ["config"],
                "runtime": ["runtime"],
                "root": ["root_dir"],
                "system": ["share", "jupyter"],
                "system_config": ["etc", "jupyter"],
                "env": ["env", "share", "jupyter"],
                "env_config": ["env", "etc", "jupyter"],
            }.items()
        }
        for path in paths.values():
            path.mkdir(parents=True)
        environ = self.environ
        environ.setenv("HOME", str(paths["home"]))
        environ.setenv("PYTHONPATH", os.pathsep.join(sys.path))
        environ.setenv("JUPYTER_CONFIG_DIR", str(paths["config"]))
        environ.setenv("JUPYTER_DATA_DIR", str(paths["data"]))
        environ.setenv("JUPYTER_RUNTIME_DIR", str(paths["runtime"]))
        environ.setattr(jupyter_core.paths, "SYSTEM_JUPYTER_PATH", [str(paths["system"])])
        environ.setattr(jupyter_core.paths, "ENV_JUPYTER_PATH", [str(paths["env"])])
        environ.setattr(jupyter_core.paths, "SYSTEM_CONFIG_PATH", [str(paths["system_config"])])
        environ.setattr(jupyter_core.paths, "ENV_CONFIG_PATH", [str(paths["env_config"])])

        config = copy.deepcopy(config)
        extensions = config.setdefault("ServerApp", {}).setdefault("jpserver_extensions", {})
        extensions.setdefault("jupyter_server_terminals", True)
        c = Config(config)
        c.NotebookNotary.db_file = ":memory:"
        if "token" not in c.ServerApp and not c.IdentityProvider.token:
            c.IdentityProvider.token = hexlify(os.urandom(4)).decode("ascii")
        sock, self.port = tornado.testing.bind_unused_port()
        ServerApp.clear_instance()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*event_loop_policy.*")
            app = ServerApp.instance(
                log_level="DEBUG",
                port=self.port,
                port_retries=0,
                open_browser=False,
                base_url=base_url,
                config=c,
                allow_root=True,
                root_dir=str(paths["root"]),
            )
        app.init_signal = lambda: None
        app.log.propagate = True
        app.log.handlers = []

        async def initialize() -> HTTPServer:
            app.initialize(argv=argv, new_httpserver=False)
            server = HTTPServer(app.web_app)
            server.add_socket(sock)
            return server

        self.http = self.run(initialize())
        # The server's log goes to pytest's log capture, shown with the test that failed.
        for handler in list(app.log.handlers):
            if isinstance(handler, logging.StreamHandler):
                app.log.removeHandler(handler)
        app.log.propagate = True
        app.start_app()
        self.app = app
        self.open_url = config["BlocksApp"]["db_url"]
        blocks = self.blocks  # its own settings (page_size, default_author, ...), not the base's
        self.settings = {
            name: copy.copy(getattr(blocks, name))
            for name in type(blocks).class_own_traits(config=True)
            if name != "db_url"
        }

    def stop(self) -> None:
        if self.app is None:
            return
        app, http = self.app, self.http
        assert http is not None
        self.app = self.http = None
        self.key = ""
        if not self.open_url:
            # Shutting down stops the extension: give it a database to close.
            scratch = self.home / f"scratch-{next(self._numbers)}.sqlite"
            shutil.copyfile(self.scratch_database, scratch)
            app.web_app.settings["jupyter_blocks"].db_url = f"sqlite:///{scratch}"
            app.web_app.settings["jupyter_blocks"].open_database()
        self.open_url = ""
        http.stop()
        self.run(http.close_all_connections())
        self.run(app._cleanup())
        if hasattr(app, "kernel_manager"):
            app.kernel_manager.context.destroy()
        ServerApp.clear_instance()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.environ.undo()
            self.loop.close()

"""BlocksApp: the jupyter-blocks server extension's settings, start-up and routes."""

from __future__ import annotations

import getpass
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider
from jupyter_server.extension.application import ExtensionApp, ExtensionAppJinjaMixin
from traitlets import Bool, Int, Unicode, default

from . import db
from .handlers import routes
from .ids import GridIds
from .kernel_env import export_kernel_environment
from .render import CodeCache
from .service import SALT_SETTING
from .validation import Limits, PayloadValidator

HERE = Path(__file__).parent
ENV_PREFIX = "JUPYTER_BLOCKS_"


class BlocksApp(ExtensionAppJinjaMixin, ExtensionApp):
    """Stores ipythonblocks grids and serves them under `<base_url>blocks/`.

    Every trait can also be set from the environment as JUPYTER_BLOCKS_<NAME> (for example
    JUPYTER_BLOCKS_DB_URL), so a JupyterHub admin can set it once in `c.Spawner.environment`.
    Configuration files and the command line take precedence over the environment.
    """

    name = "jupyter_blocks"
    load_other_extensions = True
    template_paths = [str(HERE / "templates")]
    static_paths = [str(HERE / "static")]

    db_url = Unicode(
        help="""SQLAlchemy URL of the grid database. Default: a SQLite file in the Jupyter data
        directory. Use postgresql+psycopg://user:password@host/dbname for a database that every
        server of a JupyterHub shares.""",
    ).tag(config=True)

    @default("db_url")
    def _default_db_url(self) -> str:
        return f"sqlite:///{Path(jupyter_data_dir()) / 'jupyter_blocks.sqlite'}"

    public_url = Unicode(
        help="""The address people open this server at (only its scheme://host[:port] is used),
        for the page URLs handed out. Default: JupyterHub's JUPYTERHUB_PUBLIC_URL when the Hub
        sets it, else the host each request was sent to (which, for a kernel talking to its
        server directly, is an address only that machine can open).""",
    ).tag(config=True)

    @default("public_url")
    def _default_public_url(self) -> str:
        return os.environ.get("JUPYTERHUB_PUBLIC_URL", "")

    @property
    def public_origin(self) -> str | None:
        """scheme://host[:port] of `public_url`, or None to use each request's own host."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None

    db_pool_size = Int(5, help="Connections kept open per server (PostgreSQL).").tag(config=True)
    auto_migrate = Bool(
        True, help="Upgrade the database schema at start-up (under a lock shared by all servers)."
    ).tag(config=True)
    hashids_salt = Unicode(
        "",
        help="""Salt for public grid ids. Empty (the default) uses a random salt stored in the
        database when it was created, so every server sharing the database agrees.""",
    ).tag(config=True)
    hashids_min_length = Int(6, help="Minimum length of grid ids.").tag(config=True)
    page_size = Int(24, help="Grids per page in listings when the request names no limit.").tag(
        config=True
    )
    default_author = Unicode(
        help="""Author of grids posted to a server whose identity provider is jupyter_server's
        own (a plain `jupyter lab`), where every token request is a new anonymous user.
        Default: the name of the account running the server. On JupyterHub the author is the
        Hub user and this is not used.""",
    ).tag(config=True)

    @default("default_author")
    def _default_default_author(self) -> str:
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "owner"

    max_cells = Int(250_000, help="Most blocks (width x height) in one grid.").tag(config=True)
    max_block_size = Int(100, help="Largest block size in pixels.").tag(config=True)
    max_body_bytes = Int(8 * 1024 * 1024, help="Largest request body in bytes.").tag(config=True)
    max_code_cells = Int(200, help="Most code cells stored with one grid.").tag(config=True)
    max_code_cell_chars = Int(100_000, help="Longest code cell in characters.").tag(config=True)
    max_title_chars = Int(200, help="Longest title in characters.").tag(config=True)

    database: db.Database
    # Parsing, checking, drawing and encoding big grids: few threads, so that they cannot
    # crowd the event loop's thread out of the GIL.
    cpu_threads: ThreadPoolExecutor
    ids: GridIds
    validator: PayloadValidator
    # Highlighted code of recently viewed grids of this database.
    code_cache: CodeCache

    def _apply_environment(self) -> None:
        configured = self.config.get(self.__class__.__name__, {})
        for name, trait in self.class_own_traits(config=True).items():
            value = os.environ.get(ENV_PREFIX + name.upper())
            if value is not None and name not in configured:
                setattr(self, name, trait.from_string(value))

    @property
    def limits(self) -> Limits:
        return Limits(
            max_cells=self.max_cells,
            max_block_size=self.max_block_size,
            max_code_cells=self.max_code_cells,
            max_code_cell_chars=self.max_code_cell_chars,
            max_title_chars=self.max_title_chars,
        )

    def initialize_settings(self) -> None:
        self._apply_environment()
        self.cpu_threads = ThreadPoolExecutor(2, thread_name_prefix="jupyter-blocks-cpu")
        self.open_database()
        export_kernel_environment(self.serverapp)

    def open_database(self) -> None:
        """Connect, upgrade (or check) the schema, and read the salt all servers share."""
        self.database = db.Database(self.db_url, pool_size=self.db_pool_size)
        engine = self.database.engine
        if self.auto_migrate:
            db.upgrade(engine, log=self.log)
        current, head = db.current_revision(engine), db.head_revision()
        if current != head:
            self.database.close()
            raise RuntimeError(
                f"jupyter-blocks: the database is at schema revision {current}, this version "
                f"needs {head}. Run `jupyter blocks upgrade-db` or set BlocksApp.auto_migrate."
            )
        salt = self.hashids_salt or db.stored_setting(engine, SALT_SETTING) or ""
        self.ids = GridIds(salt, self.hashids_min_length)
        self.validator = PayloadValidator(self.limits)
        self.code_cache = CodeCache()
        self.log.info("jupyter-blocks: grids are stored in %s", engine.url)

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes())

    async def stop_extension(self) -> None:
        self.cpu_threads.shutdown(wait=True)
        self.database.close()

    def author_for(self, user: Any) -> str:
        """Who posts or owns grids for a request by `user` (see `default_author`)."""
        if self._identity_is_the_owner:
            return self.default_author
        return str(user.username)

    @property
    def _identity_is_the_owner(self) -> bool:
        provider = self.serverapp.identity_provider
        return type(provider) in (IdentityProvider, PasswordIdentityProvider)

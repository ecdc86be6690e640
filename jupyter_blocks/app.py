"""BlocksApp: the jupyter-blocks server extension's settings, start-up and routes."""

from __future__ import annotations

import getpass
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider
from jupyter_server.extension.application import ExtensionApp, ExtensionAppJinjaMixin
from jupyter_server.utils import url_path_join
from sqlalchemy.engine import make_url
from traitlets import Bool, Float, Int, Unicode, default

from . import db
from .constants import NAMESPACE
from .handlers import routes, service_redirects
from .handlers.origin import recording_browser_origin
from .hub.users import HubUsers
from .ids import GridIds
from .kernel_env import export_kernel_environment
from .live import GRID_CHANGE_SCHEMA, Feed
from .read_cache import ReadCache
from .render import CodeCache
from .service import SALT_SETTING
from .validation import Limits, PayloadValidator

if TYPE_CHECKING:
    from .post_workers import PostWorkers

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

    @default("template_paths")
    def _default_template_paths(self) -> list[str]:
        return [str(HERE / "templates")]

    @default("jinja2_options")
    def _default_jinja2_options(self) -> dict[str, Any]:
        # The templates are package files: no stat of each one on every page.
        return {"auto_reload": False}

    @default("static_paths")
    def _default_static_paths(self) -> list[str]:
        return [str(HERE / "static")]

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
        sets it (it does where c.JupyterHub.public_url is set), else the host each request was
        sent to (for a kernel talking to its server directly, an address only that machine can
        open; on a Hub's gallery service, kernels name their user's browser's origin instead,
        and links answered to a request sent straight to the service's own address are
        paths).""",
    ).tag(config=True)

    @default("public_url")
    def _default_public_url(self) -> str:
        return os.environ.get("JUPYTERHUB_PUBLIC_URL", "")

    @property
    def public_origin(self) -> str | None:
        """scheme://host[:port] of `public_url`, or None to use each request's own host."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None

    @cached_property
    def direct_hosts(self) -> frozenset[str]:
        """On a Hub's gallery service, the host[:port] the Hub and users' servers and kernels
        reach it at directly (JUPYTERHUB_SERVICE_URL), which no browser opens: page URLs
        answered to a request sent there are paths, not links to that host."""
        service_url = os.environ.get("JUPYTERHUB_SERVICE_URL", "") if self.hub_service else ""
        host = urlsplit(service_url).netloc.lower()
        return frozenset([host] if host else [])

    # On a user's server whose grids a Hub's gallery service keeps: scheme://host[:port] of
    # the last JupyterLab page served to its owner (`handlers.origin`), for its kernels' posts.
    browser_origin: str | None = None

    service_url = Unicode(
        "",
        help="""URL of the jupyter-blocks gallery service (`jupyter blocks serve` run by
        JupyterHub), as this server and its kernels reach it, e.g.
        http://127.0.0.1:10101/services/blocks/. When set, this server opens no database: its
        kernels and the panel use the service with the user's Hub credentials, and its own
        blocks/ URLs redirect there.""",
    ).tag(config=True)
    service_public_url = Unicode(
        "",
        help="""URL of the gallery service as browsers open it, when that is not `service_url`'s
        path on the origin of users' servers: on a JupyterHub with `subdomain_host`, where the
        service has a host of its own (`jupyter blocks hub-config` sets it there).""",
    ).tag(config=True)
    hub_service = Bool(
        False,
        help="""Set by `jupyter blocks serve`: this server is the gallery service of a
        JupyterHub, no one's own server (its pages' "Open in JupyterLab" goes through the Hub's
        user-redirect to the viewer's server).""",
    ).tag(config=True)
    moderators_group = Unicode(
        "blocks-moderators",
        help="""Members of this JupyterHub group, and Hub admins, may delete any grid.""",
    ).tag(config=True)
    db_pool_size = Int(
        10,
        help="""Most database connections this server holds, however many users it serves
        (PostgreSQL: a third of them for writes, the rest for reads; SQLite: this many for reads
        and one for writes); requests wait for a free one.""",
    ).tag(config=True)
    post_processes = Int(
        -1,
        help="""`jupyter blocks serve` only: how many worker processes check and store posts
        (their parsing holds the GIL, which the service's event loop needs for every other
        request), each with one of the `db_pool_size` connections. -1: one on SQLite (one
        writer at a time), on PostgreSQL one per CPU but one, one to three; 0: on the service's
        own threads. A user's own server never starts worker processes.""",
    ).tag(config=True)
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

    cache_seconds = Float(
        2.0,
        help="""For how many seconds a grid's data, page, thumbnail or a listing read from the
        database is served again without reading it again. This server's own posts, renames and
        deletes show at once; those of other servers on the same database (JupyterHub service
        replicas, servers sharing one PostgreSQL) within this many seconds. 0 reads every time.""",
    ).tag(config=True)
    max_cells = Int(250_000, help="Most blocks (width x height) in one grid.").tag(config=True)
    max_block_size = Int(100, help="Largest block size in pixels.").tag(config=True)
    max_body_bytes = Int(8 * 1024 * 1024, help="Largest request body in bytes.").tag(config=True)
    max_code_cells = Int(200, help="Most code cells stored with one grid.").tag(config=True)
    max_code_cell_chars = Int(100_000, help="Longest code cell in characters.").tag(config=True)
    max_title_chars = Int(200, help="Longest title in characters.").tag(config=True)

    database: db.Database
    # `jupyter blocks serve`'s post worker processes (None: posts are stored on threads)
    post_workers: PostWorkers | None = None
    ids: GridIds
    hub_users: HubUsers
    # Highlighted code of recently viewed grids of this database.
    code_cache: CodeCache
    # Answers of recent reads (`cache_seconds`).
    reads: ReadCache
    # Changes of public grids, pushed to `blocks/api/events` subscribers.
    feed: Feed

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

    @property
    def uses_service(self) -> bool:
        """True on a user's server that a JupyterHub gallery service holds the grids for."""
        return bool(self.service_url)

    @property
    def service_blocks_path(self) -> str:
        """The service's blocks/ URL as browsers reach it: an absolute path on the origin of
        users' servers, or on a Hub with subdomains an absolute URL on the service's host."""
        if self.service_public_url:
            return url_path_join(self.service_public_url, NAMESPACE) + "/"
        return url_path_join(urlsplit(self.service_url).path or "/", NAMESPACE) + "/"

    @cached_property
    def validator(self) -> PayloadValidator:
        """Checks posted payloads against this server's limits."""
        return PayloadValidator(self.limits)

    @cached_property
    def cpu_threads(self) -> ThreadPoolExecutor:
        """Parsing, checking, drawing and encoding big grids: few threads, so that they cannot
        crowd the event loop's thread out of the GIL. Made when a big grid first needs them."""
        return ThreadPoolExecutor(2, thread_name_prefix="jupyter-blocks-cpu")

    def initialize_settings(self) -> None:
        assert self.serverapp is not None, "loaded by a Jupyter server"
        self._apply_environment()
        if self.uses_service:
            # No database here: the Hub service holds it; the panel learns where it is.
            page_config = self.serverapp.web_app.settings.setdefault("page_config_data", {})
            page_config["jupyterBlocksServiceUrl"] = self.service_blocks_path
            export_kernel_environment(
                self.serverapp, url=url_path_join(self.service_url, NAMESPACE) + "/"
            )
            # once the event loop runs: JupyterHub's server extension sets its own page config
            # hook after every extension has loaded, and this one calls it
            self.serverapp.io_loop.add_callback(self._record_browser_origin)
            self.log.info("jupyter-blocks: grids are kept by the service at %s", self.service_url)
            return
        self.open_database()
        self.post_workers = self._post_workers()
        self.hub_users = HubUsers(self.serverapp.identity_provider, log=self.log)
        export_kernel_environment(self.serverapp)

    def _record_browser_origin(self) -> None:
        assert self.serverapp is not None, "loaded by a Jupyter server"
        settings = self.serverapp.web_app.settings
        hook = settings.get("page_config_hook")
        if not getattr(hook, "records_browser_origin", False):
            settings["page_config_hook"] = recording_browser_origin(self, hook)

    def open_database(self) -> None:
        """Connect, upgrade (or check) the schema, and read the salt all servers share."""
        connections = max(2, self.db_pool_size - self._post_processes())
        self.database = db.Database(self.db_url, connections)
        engine = self.database.engine
        if self.auto_migrate:
            db.upgrade(engine, log=self.log)
        current = db.current_revision(engine)
        if current != db.HEAD_REVISION:
            self.database.close()
            raise db.SchemaMismatch(engine.url, current, db.HEAD_REVISION)
        salt = self.hashids_salt or db.stored_setting(engine, SALT_SETTING) or ""
        self.ids = GridIds(salt, self.hashids_min_length)
        self.code_cache = CodeCache()
        self.reads = ReadCache(self.cache_seconds)
        self.feed = Feed(self.ids, self.log, self.database, self.reads)
        self._emit_changes()
        self.log.info("jupyter-blocks: grids are stored in %s", engine.url)

    def _post_processes(self) -> int:
        """How many post worker processes this server runs (see `post_processes`)."""
        if not self.hub_service:
            return 0
        if self.post_processes >= 0:
            return self.post_processes
        if make_url(self.db_url).get_backend_name() == "sqlite":
            return 1
        return min(3, max(1, (os.cpu_count() or 2) - 1))

    def _post_workers(self) -> PostWorkers | None:
        processes = self._post_processes()
        if not processes:
            return None
        from .post_workers import PostWorkers, WorkerSettings  # (the service's alone)

        settings = WorkerSettings(self.db_url, self.limits, self.ids.salt, self.ids.min_length)
        return PostWorkers(settings, processes)

    def _emit_changes(self) -> None:
        """Have the feed emit this server's own changes as jupyter_events events too."""
        event_logger = getattr(self.serverapp, "event_logger", None)
        if event_logger is None:
            return
        if GRID_CHANGE_SCHEMA not in event_logger.schemas.schema_ids:  # (a logger reused)
            event_logger.register_event_schema(HERE / "event_schemas" / "grid_change" / "v1.yaml")

        def emit(data: dict[str, Any]) -> None:
            event_logger.emit(schema_id=GRID_CHANGE_SCHEMA, data=data)

        self.feed.emit = emit

    def initialize_handlers(self) -> None:
        self.handlers.extend(service_redirects() if self.uses_service else routes())

    async def stop_extension(self) -> None:
        if self.uses_service:
            return
        self.feed.close()
        if self.post_workers is not None:
            self.post_workers.close()
        if "cpu_threads" in self.__dict__:  # made on first use
            self.cpu_threads.shutdown(wait=True)
        self.database.close()

    async def is_moderator(self, user: Any) -> bool:
        """Whether `user` may delete anyone's grid: a Hub admin or a member of
        `moderators_group`, as the Hub says. Never on a server without a Hub."""
        hub_user = await self.hub_users.lookup(user)
        if hub_user is None:
            return False
        return bool(hub_user.get("admin")) or self.moderators_group in (
            hub_user.get("groups") or []
        )

    def author_for(self, user: Any) -> str:
        """Who posts or owns grids for a request by `user` (see `default_author`)."""
        if self._identity_is_the_owner:
            return self.default_author
        return str(user.username)

    @property
    def _identity_is_the_owner(self) -> bool:
        assert self.serverapp is not None, "loaded by a Jupyter server"
        provider = self.serverapp.identity_provider
        return type(provider) in (IdentityProvider, PasswordIdentityProvider)

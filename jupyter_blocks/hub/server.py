"""`jupyter blocks serve`: the gallery as a JupyterHub-managed service.

A jupyter_server locked down to jupyter-blocks alone: it holds the database (the only process
that does), the Hub authenticates every request (OAuth cookie for browsers, Hub API tokens for
users' servers and kernels, through jupyterhub's own identity provider and authorizer for
jupyter_server), and the author of a grid is the Hub user the Hub names. It serves the
`blocks/` URL map under the service prefix and nothing else: no kernels, contents, files or
terminals, no other server extension, and no config files: it is configured by the environment
the Hub gives it (JUPYTERHUB_*, JUPYTER_BLOCKS_*) and its command line.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any
from urllib.parse import urlsplit

from jupyter_server.serverapp import ServerApp
from jupyterhub.singleuser.extension import JupyterHubAuthorizer, JupyterHubIdentityProvider
from traitlets.config import Config

EXTENSIONS = {"jupyter_blocks": True}


class NotAHubService(RuntimeError):
    """`jupyter blocks serve` was started without the environment a JupyterHub service gets."""


class GalleryServiceApp(ServerApp):
    name = "jupyter-blocks-serve"
    description = "The jupyter-blocks gallery as a JupyterHub service."
    # api/status (health checks) only: no kernels, sessions, contents, files, terminals, ...
    default_services = ("api",)  # type: ignore[assignment]  # ServerApp types it as its own tuple

    @property
    def config_file_paths(self) -> list[str]:
        return []

    def find_server_extensions(self) -> None:
        """Only jupyter-blocks, whatever extensions are installed beside it."""

    def init_server_extensions(self) -> None:
        self.jpserver_extensions = dict(EXTENSIONS)
        super().init_server_extensions()

    def init_httpserver(self) -> None:
        # Grid posts stream their bodies and check `max_body_bytes` themselves; no other request
        # of the gallery has a body worth more, so none makes the service buffer up to
        # jupyter_server's 512 MB per request (unless the admin set a limit).
        if "max_body_size" not in self.config.ServerApp:
            self.max_body_size = self.web_app.settings["jupyter_blocks"].max_body_bytes
        super().init_httpserver()

    def init_webapp(self) -> None:
        super().init_webapp()
        # As jupyterhub.singleuser does: tornado's own XSRF check runs before the Hub has said
        # whether a request carries a token; jupyter_server checks again once it knows.
        self.web_app.settings["xsrf_cookies"] = False


def service_config(environ: Any = os.environ) -> Config:
    """Where to listen and how to authenticate, from the environment the Hub sets."""
    service_url = environ.get("JUPYTERHUB_SERVICE_URL")
    if not service_url or not environ.get("JUPYTERHUB_API_TOKEN"):
        raise NotAHubService(
            "jupyter blocks serve runs as a JupyterHub-managed service (JUPYTERHUB_SERVICE_URL and "
            "JUPYTERHUB_API_TOKEN are not set). `jupyter blocks hub-config` prints the Hub config."
        )
    url = urlsplit(service_url)
    return Config(
        {
            "ServerApp": {
                "ip": url.hostname or "127.0.0.1",
                "port": url.port or 80,
                "base_url": environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/",
                "default_url": "/blocks/",
                "identity_provider_class": JupyterHubIdentityProvider,
                "authorizer_class": JupyterHubAuthorizer,
                "open_browser": False,
                "allow_root": True,
                # Nothing is served from it (no contents or files services); an empty place.
                "root_dir": tempfile.mkdtemp(prefix="jupyter-blocks-service-"),
                "jpserver_extensions": dict(EXTENSIONS),
            },
            "ContentsManager": {"files_handler_class": None},
            "BlocksApp": {"hub_service": True},
        }
    )


def serve(argv: list[str]) -> None:
    GalleryServiceApp.launch_instance(argv=argv, config=service_config())

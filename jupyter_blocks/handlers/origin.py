"""On a user's server whose grids a JupyterHub gallery service keeps: the origin its user's
browser opens it at, for its kernels.

Kernels post to the service directly, at an address of the Hub's machine that no browser
opens, so the service cannot tell from their requests where people open the Hub. This server
can: its user's browser comes through the Hub's proxy, whose requests keep the browser's
`Host`. It keeps the origin of the last JupyterLab (or Notebook) page the Hub authenticated as
its owner, and its kernels ask for it here, then name it to the service with their posts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..constants import NAMESPACE
from ..kernel_env import checked_origin

if TYPE_CHECKING:
    from ..app import BlocksApp

PageConfigHook = Callable[[Any, dict[str, Any]], dict[str, Any]]


class BrowserOriginHandler(ExtensionHandlerMixin, APIHandler):
    """`GET blocks/browser-origin`: `{"origin": "scheme://host[:port]" or null}` (null until
    the owner has opened JupyterLab on this server in this server's lifetime)."""

    auth_resource = NAMESPACE

    @web.authenticated
    @authorized
    def get(self) -> None:
        app = cast("BlocksApp", self.extensionapp)
        self.set_header("Cache-Control", "no-store")
        self.finish({"origin": app.browser_origin})


def recording_browser_origin(app: BlocksApp, hook: PageConfigHook | None) -> PageConfigHook:
    """A page config hook (JupyterLab's and Notebook's pages call it with their handler) that
    keeps the origin of pages served to this server's owner in `app.browser_origin`, then
    calls the `hook` set before it (JupyterHub's)."""
    owner = os.environ.get("JUPYTERHUB_USER")

    def record(handler: Any, page_config: dict[str, Any]) -> dict[str, Any]:
        user = handler.current_user
        if user is not None and (owner is None or user.username == owner):
            request = handler.request
            # the scheme as the Hub's proxy says (JupyterHub's servers trust its X-Forwarded-Proto)
            origin = checked_origin(f"{request.protocol}://{request.host}")
            if origin is not None:
                app.browser_origin = origin
        return hook(handler, page_config) if hook is not None else page_config

    record.records_browser_origin = True  # type: ignore[attr-defined]
    return record

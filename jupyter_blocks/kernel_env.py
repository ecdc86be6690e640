"""Tell kernels started by this Jupyter server where its jupyter-blocks endpoints are, and make
them use it with no step at all.

The server extension calls `export_kernel_environment(serverapp)` at start-up. It puts the
server's own local URL (with `base_url` and `blocks/`) and its token into the server process's
environment; kernels started afterwards inherit that environment, so
`jupyter_blocks.client.connect()` in a kernel finds this server with nothing typed by hand.

In those kernels (any Python process with JUPYTER_BLOCKS_URL set, in fact), the
`jupyter_blocks.pth` file installed into site-packages calls `install_ipythonblocks_hook()` at
interpreter start: when the program imports ipythonblocks, it is pointed at the server right
after (`jupyter_blocks.client.patch.attach`), with no network contact until a grid is posted
or loaded. A `.pth` file rather than IPython configuration: IPython reads no `*.d` directories
of configuration (traitlets loads one `ipython_kernel_config` file per directory, which a user's
or another package's file would replace), and the hook also covers scripts run in Jupyter's
terminals. It costs one environment lookup in processes without the variable and one small
import in those with it; processes that never import ipythonblocks load nothing more.

Exporting the token leaks nothing new: kernels run as the same OS user as the server, who can
already read the token from the server's runtime file (`jpserver-<pid>.json`, see
`jupyter server list`). On JupyterHub the token is the single-user server's
`JUPYTERHUB_API_TOKEN`, which the kernel inherits anyway.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

    # importing the server application takes seconds; kernels import this module
    from jupyter_server.serverapp import ServerApp

ENV_URL = "JUPYTER_BLOCKS_URL"
ENV_TOKEN = "JUPYTER_BLOCKS_TOKEN"


def kernel_facing_url(
    ip: str, port: int, base_url: str, sock: str = "", secure: bool = False
) -> str:
    """The URL of `<base_url>blocks/` on a server, as a process on the same machine reaches it.

    A wildcard or unset `ip` ("", "0.0.0.0", "::", "localhost") is reached through the loopback
    address; a specific address is used as is, since the server listens only there. A server on
    a UNIX socket gets an `http+unix://` URL (the client explains that ipythonblocks cannot use
    it).
    """
    if sock:
        from jupyter_server.utils import urlencode_unix_socket_path

        return f"http+unix://{urlencode_unix_socket_path(sock)}{base_url}blocks/"
    if ip in ("", "0.0.0.0", "localhost"):
        host = "127.0.0.1"
    elif ip == "::":
        host = "[::1]"
    elif ":" in ip:
        host = f"[{ip}]"
    else:
        host = ip
    scheme = "https" if secure else "http"
    return f"{scheme}://{host}:{port}{base_url}blocks/"


def export_kernel_environment(serverapp: ServerApp, url: str | None = None) -> None:
    """Set JUPYTER_BLOCKS_URL and JUPYTER_BLOCKS_TOKEN in this (the server's) process.

    `url`: the blocks/ URL of a JupyterHub gallery service this server uses instead of its
    own; kernels then reach it with the server's Hub token (JUPYTERHUB_API_TOKEN, which the Hub
    scopes to the user and which kernels inherit anyway).

    Called while extensions load, when the server may not have bound its port yet (a busy
    port makes it try the next ones, port 0 picks a free one): the variables are set now and
    set again once the event loop runs, which is after the port is final and before any
    request (hence any kernel start) is served.
    """
    if url is not None:
        os.environ[ENV_URL] = url
        os.environ[ENV_TOKEN] = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        return
    _export(serverapp)
    serverapp.io_loop.add_callback(_export, serverapp)


def _export(serverapp: ServerApp) -> None:
    url = kernel_facing_url(
        serverapp.ip,
        serverapp.port,
        serverapp.base_url,
        sock=serverapp.sock,
        secure=bool(serverapp.certfile),
    )
    os.environ[ENV_URL] = url
    token = serverapp.identity_provider.token
    if token:
        os.environ[ENV_TOKEN] = token
    else:
        # No token on this server; drop one inherited from a server that started this one.
        os.environ.pop(ENV_TOKEN, None)
    serverapp.log.debug("jupyter-blocks: kernels will reach this server at %s", url)


# ----------------------------------------------------------- kernel side: the import hook


def install_ipythonblocks_hook() -> None:
    """Point ipythonblocks at this process's jupyter-blocks server (JUPYTER_BLOCKS_URL) as soon
    as it is imported: now if it already is, else through a one-time import hook."""
    url = os.environ[ENV_URL]
    if "ipythonblocks" in sys.modules:
        _attach_to_server(url)
    elif not any(isinstance(finder, _IpythonblocksFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _IpythonblocksFinder(url))


def _attach_to_server(url: str) -> None:
    from .client import patch

    patch.attach(url)


# A meta path finder by protocol (nothing to inherit); the loader wraps ipythonblocks' own.
class _IpythonblocksFinder:
    """Finds `ipythonblocks` as the other finders do, with a loader that attaches after."""

    def __init__(self, url: str) -> None:
        self.url = url

    def find_spec(
        self, name: str, path: Any = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "ipythonblocks":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = cast("Loader", _AttachAfterLoading(spec.loader, self.url))
        return spec


class _AttachAfterLoading(importlib.abc.Loader):
    def __init__(self, loader: Any, url: str) -> None:
        self.loader, self.url = loader, url

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        module: types.ModuleType | None = self.loader.create_module(spec)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        self.loader.exec_module(module)
        _attach_to_server(self.url)

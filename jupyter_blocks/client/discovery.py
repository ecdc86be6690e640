"""Find the Jupyter server of this kernel: its `<base_url>blocks/` URL and a token."""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from ..kernel_env import (
    ENV_HUB_API_TOKEN,
    ENV_HUB_SERVICE_PREFIX,
    ENV_HUB_SERVICE_URL,
    ENV_TOKEN,
    ENV_URL,
    kernel_facing_url,
)
from .errors import BlocksConnectionError


def discover() -> tuple[str, str | None, str]:
    """Find this kernel's Jupyter server: `(blocks URL, token or None, how it was found)`.

    In order:
    1. JUPYTER_BLOCKS_URL / JUPYTER_BLOCKS_TOKEN, which the server extension puts into the
       environment of every kernel its server starts;
    2. JUPYTERHUB_SERVICE_URL / JUPYTERHUB_API_TOKEN, which JupyterHub gives a single-user
       server (and so its kernels); the hub-issued token is accepted by that server as the
       user's own (it carries the scope `access:servers!server=<user>/<server name>`);
    3. the servers listed in the Jupyter runtime directory (`jupyter server list`), only those
       whose base_url is JUPYTERHUB_SERVICE_PREFIX when that is set: the one that started this
       kernel (JPY_PARENT_PID), else the only one.
    """
    url = os.environ.get(ENV_URL)
    if url:
        return url, os.environ.get(ENV_TOKEN) or None, ENV_URL
    hub_url = os.environ.get(ENV_HUB_SERVICE_URL)
    if hub_url:
        parts = urllib.parse.urlsplit(hub_url)
        url = kernel_facing_url(
            parts.hostname or "",
            parts.port or (443 if parts.scheme == "https" else 80),
            parts.path if parts.path.endswith("/") else parts.path + "/",
            secure=parts.scheme == "https",
        )
        return url, os.environ.get(ENV_HUB_API_TOKEN) or None, ENV_HUB_SERVICE_URL
    server = _running_server(base_url=os.environ.get(ENV_HUB_SERVICE_PREFIX))
    url = kernel_facing_url(
        server["hostname"],
        server["port"],
        server["base_url"],
        sock=server.get("sock") or "",
        secure=bool(server.get("secure")),
    )
    return url, server.get("token") or None, f"running server (pid {server['pid']})"


def _running_server(base_url: str | None) -> dict[str, Any]:
    # Imported here: the server application module takes seconds to import, and only this
    # last-resort path needs it.
    from jupyter_core.paths import jupyter_runtime_dir
    from jupyter_server.serverapp import list_running_servers

    servers: list[dict[str, Any]] = list(list_running_servers())
    if base_url:
        servers = [server for server in servers if server.get("base_url") == base_url]
    parent_pid = os.environ.get("JPY_PARENT_PID") or str(os.getppid())
    for server in servers:
        if str(server.get("pid")) == parent_pid:
            return server
    if len(servers) == 1:
        return servers[0]
    if not servers:
        raise BlocksConnectionError(
            f"No Jupyter server found for this kernel: {ENV_URL} and {ENV_HUB_SERVICE_URL} are "
            f"not set and no running server is listed in {jupyter_runtime_dir()}"
            + (f" with base_url {base_url}" if base_url else "")
            + ". Run this in a kernel started by a Jupyter server with the jupyter_blocks "
            "extension enabled, or call jupyter_blocks.client.connect(url=..., token=...)."
        )
    raise BlocksConnectionError(
        f"{len(servers)} Jupyter servers are running and none of them started this kernel: "
        + ", ".join(str(server.get("url")) for server in servers)
        + ". Call jupyter_blocks.client.connect(url='<server URL>blocks/', token=...)."
    )

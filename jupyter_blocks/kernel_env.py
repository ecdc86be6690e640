"""The environment kernels inherit from a Jupyter server running jupyter-blocks: the variables
that say where its `blocks/` endpoints are, and how a process on the same machine reaches them.

The server extension calls `export_kernel_environment(serverapp)` at start-up. It puts the
server's own local URL (with `base_url` and `blocks/`) and its token into the server process's
environment; kernels started afterwards inherit that environment, so
`jupyter_blocks.client.connect()` in a kernel finds this server with nothing typed by hand, and
`jupyter_blocks.kernel_hook` points ipythonblocks at it as soon as a kernel imports it. This
module is what both sides share, so it imports nothing of theirs: the server writes the
variables, the kernel side reads them.

Exporting the token leaks nothing new: kernels run as the same OS user as the server, who can
already read the token from the server's runtime file (`jpserver-<pid>.json`, see
`jupyter server list`). On JupyterHub the token is the single-user server's
`JUPYTERHUB_API_TOKEN`, which the kernel inherits anyway.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # importing the server application takes seconds; kernels import this module
    from jupyter_server.serverapp import ServerApp

# Set by the server extension for the kernels it starts: its `blocks/` URL and a token.
ENV_URL = "JUPYTER_BLOCKS_URL"
ENV_TOKEN = "JUPYTER_BLOCKS_TOKEN"
# Set by JupyterHub for a single-user server, and so for its kernels: the server's URL and
# prefix, and its Hub token (scoped to its user).
ENV_HUB_SERVICE_URL = "JUPYTERHUB_SERVICE_URL"
ENV_HUB_SERVICE_PREFIX = "JUPYTERHUB_SERVICE_PREFIX"
ENV_HUB_API_TOKEN = "JUPYTERHUB_API_TOKEN"
# Set by a user's server whose grids a JupyterHub gallery service keeps: where its kernels ask
# it for the origin its user's browser opens it at (`BROWSER_ORIGIN_PATH` of its blocks/ URL).
ENV_ORIGIN_URL = "JUPYTER_BLOCKS_ORIGIN_URL"
BROWSER_ORIGIN_PATH = "browser-origin"
# The header in which a kernel names that origin to the service, for the page URLs answered
# to that one request (the service reached directly has no public host of its own to go by).
ORIGIN_HEADER = "X-Jupyter-Blocks-Origin"

# scheme://host[:port]: a DNS name, an IPv4 address or a bracketed IPv6 address.
_ORIGIN = re.compile(
    r"(https?)://([a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(:([0-9]{1,5}))?",
    re.ASCII | re.IGNORECASE,
)


def checked_origin(value: str) -> str | None:
    """`value` as a lower-case `scheme://host[:port]` (http or https), or None when it is not
    one (a path, credentials, a query or anything else after the host)."""
    match = _ORIGIN.fullmatch(value)
    if match is None or (match[5] is not None and not 0 < int(match[5]) < 65536):
        return None
    return value.lower()


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
    scopes to the user and which kernels inherit anyway), and ask this server at
    JUPYTER_BLOCKS_ORIGIN_URL for the origin of the page URLs the service answers them.

    Called while extensions load, when the server may not have bound its port yet (a busy
    port makes it try the next ones, port 0 picks a free one): the variables are set now and
    set again once the event loop runs, which is after the port is final and before any
    request (hence any kernel start) is served.
    """
    if url is not None:
        os.environ[ENV_URL] = url
        os.environ[ENV_TOKEN] = os.environ.get(ENV_HUB_API_TOKEN, "")
    _export(serverapp, uses_service=url is not None)
    serverapp.io_loop.add_callback(_export, serverapp, url is not None)


def _export(serverapp: ServerApp, uses_service: bool = False) -> None:
    """This server's own URL for its kernels: the blocks/ URL they post to, or, when a
    gallery service keeps the grids (`uses_service`), where they ask for the browser's origin
    (with the server's Hub token, which this server accepts as its user's)."""
    url = kernel_facing_url(
        serverapp.ip,
        serverapp.port,
        serverapp.base_url,
        sock=serverapp.sock,
        secure=bool(serverapp.certfile),
    )
    if uses_service:
        os.environ[ENV_ORIGIN_URL] = url + BROWSER_ORIGIN_PATH
        return
    os.environ.pop(ENV_ORIGIN_URL, None)
    os.environ[ENV_URL] = url
    token = serverapp.identity_provider.token
    if token:
        os.environ[ENV_TOKEN] = token
    else:
        # No token on this server; drop one inherited from a server that started this one.
        os.environ.pop(ENV_TOKEN, None)
    serverapp.log.debug("jupyter-blocks: kernels will reach this server at %s", url)

"""The connection of this kernel to its jupyter-blocks server, made once and kept, and
ipythonblocks pointed at it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from ..kernel_env import ENV_ORIGIN_URL, ENV_URL
from . import patch
from .discovery import discover
from .errors import BlocksConnectionError, BlocksRequestError
from .transport import Transport

log = logging.getLogger("jupyter_blocks.client")


@dataclass(frozen=True)
class Connection:
    """Where grids go (`url`, the server's `<base_url>blocks/` URL), as whom, found how."""

    transport: Transport = field(repr=False)
    author: str
    found_by: str

    @property
    def url(self) -> str:
        return self.transport.url

    def __repr__(self) -> str:
        return f"Connection(url={self.url!r}, author={self.author!r}, found_by={self.found_by!r})"


_connection: Connection | None = None


def connect(url: str | None = None, token: str | None = None) -> Connection:
    """Find the server (or use `url`, its `<base_url>blocks/` URL), point ipythonblocks at it
    and check that jupyter-blocks answers there. Returns the connection; raises
    `BlocksConnectionError` with what to do when there is no usable server (ipythonblocks then
    stays pointed at this server: it never falls back to the public site)."""
    global _connection
    if url is None:
        url, found_token, found_by = discover()
        token = token or found_token
    else:
        found_by = "connect(url=...)"
    if not url.endswith("/"):
        url += "/"
    if url.startswith("http+unix:"):
        raise BlocksConnectionError(
            f"The Jupyter server listens on a UNIX socket ({url}); ipythonblocks sends its "
            "requests with `requests`, which cannot use one. Serve on a TCP port as well "
            "(--ip/--port) or call jupyter_blocks.client.connect(url=..., token=...)."
        )
    attach_ipythonblocks(url)
    # the service's URL from this kernel's server, which also says where to ask for the origin
    origin_url = os.environ.get(ENV_ORIGIN_URL) if found_by == ENV_URL else None
    transport = Transport(url, token, origin_url)
    author = _check_server(transport, found_by)
    _connection = Connection(transport, author, found_by)
    log.info("jupyter-blocks: connected to %s as %s (found by %s)", url, author, found_by)
    return _connection


def disconnect() -> None:
    """Undo `connect()`: ipythonblocks talks to ipythonblocks.org again."""
    global _connection
    patch.detach()
    _connection = None


def current() -> Connection:
    """The connection, made now if there is none yet."""
    return _connection or connect()


def attach_ipythonblocks(url: str) -> None:
    """ipythonblocks talks to the server at `url` (its `blocks/` URL) only, through this
    kernel's connection, made on its first request: nothing is sent now."""
    patch.attach(url, _current_transport)


def _current_transport() -> Transport:
    return current().transport


def _check_server(transport: Transport, found_by: str) -> str:
    """The author the server sees for this kernel, or a `BlocksConnectionError` saying what to
    do."""
    url = transport.url
    try:
        return str(transport.request("GET", "api/me").json()["author"])
    except BlocksRequestError as error:
        if error.status == 404:
            raise BlocksConnectionError(
                f"The Jupyter server at {url} (found by {found_by}) answers 404 for "
                "blocks/api/me: the jupyter_blocks server extension is not enabled there. "
                "Run `jupyter server extension enable jupyter_blocks` and restart the server."
            ) from error
        if error.status in (401, 403):
            raise BlocksConnectionError(
                f"The Jupyter server at {url} (found by {found_by}) refused this kernel's "
                f"credentials ({error.status}). A server protected by a password only gives "
                "kernels no token: give it a token (c.IdentityProvider.token) or call "
                "jupyter_blocks.client.connect(url=..., token=...)."
            ) from error
        raise BlocksConnectionError(
            f"The Jupyter server at {url} (found by {found_by}) is not usable: {error}"
        ) from error

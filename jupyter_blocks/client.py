"""Kernel side of jupyter-blocks: share ipythonblocks grids with the Jupyter server of this kernel.

In a notebook::

    %load_ext jupyter_blocks          # or: from jupyter_blocks.client import connect; connect()
    url = grid.post_to_web()          # stored on this Jupyter server, page at `url`
    same = BlockGrid.from_web(grid_id)

`connect()` finds the server (see `discover()`), checks that the jupyter_blocks server extension
answers there, points the `ipythonblocks` module constants (`_POST_URL`, `_GET_URL_PUBLIC`,
`_GET_URL_SECRET`) at its `blocks/` endpoints and makes `post_to_web` / `from_web` send the
server's token in an `Authorization` header.

Why a header and not `?token=` in those constants: JupyterHub 5 and later ignore tokens in URLs
of single-user servers (`HubAuth.allow_token_in_url`, off by default), and a token in a URL ends
up in error messages (requests' `HTTPError` names the URL), hence in saved notebook outputs. The
stock methods call the module-level `requests.post` / `requests.get` without headers, so
`connect()` replaces them on `BlockGrid` / `ImageGrid` with equivalents that add the header;
`disconnect()` restores the originals.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from ipythonblocks import BlockGrid, ImageGrid
from ipythonblocks import ipythonblocks as ipb

from .kernel_env import ENV_TOKEN, ENV_URL, kernel_facing_url

__all__ = [
    "BlocksConnectionError",
    "BlocksError",
    "BlocksRequestError",
    "Connection",
    "connect",
    "disconnect",
    "discover",
    "gallery",
    "load",
    "load_ipython_extension",
    "parse_grid_reference",
    "post",
    "unload_ipython_extension",
]

log = logging.getLogger(__name__)

ENV_HUB_SERVICE_URL = "JUPYTERHUB_SERVICE_URL"
ENV_HUB_SERVICE_PREFIX = "JUPYTERHUB_SERVICE_PREFIX"
ENV_HUB_API_TOKEN = "JUPYTERHUB_API_TOKEN"
REQUEST_TIMEOUT = 30.0
"""Seconds to wait for the server to connect and to answer each request."""

CellSpec = int | str | slice
"""Code cells as ipythonblocks takes them: 3, "3,5,8:10" or slice(1, 4) (numbers of `In`)."""

GridT = TypeVar("GridT", bound=BlockGrid)

_STOCK_URLS = (ipb._POST_URL, ipb._GET_URL_PUBLIC, ipb._GET_URL_SECRET)
_STOCK_METHODS = [
    (cls, name, cls.__dict__[name])
    for cls, name in ((BlockGrid, "post_to_web"), (BlockGrid, "from_web"), (ImageGrid, "from_web"))
]
_XSRF = secrets.token_hex(16)
_GRID_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class BlocksError(Exception):
    """Something went wrong talking to jupyter-blocks."""


class BlocksConnectionError(BlocksError):
    """No jupyter-blocks server could be found or reached from this kernel."""


class BlocksRequestError(BlocksError, requests.HTTPError):
    """The server refused a request (4xx/5xx). Also a `requests.HTTPError`, like the stock
    client's errors. `status` is the HTTP status, `errors` the server's precise errors."""

    def __init__(
        self, message: str, *, status: int, errors: list[dict[str, Any]], response: Any = None
    ) -> None:
        super().__init__(message, response=response)
        self.status = status
        self.errors = errors


@dataclass(frozen=True)
class Connection:
    """Where grids go: `url` is the server's `<base_url>blocks/` URL."""

    url: str
    author: str
    found_by: str
    token: str | None = field(default=None, repr=False)


_connection: Connection | None = None


# ---------------------------------------------------------------------------- discovery


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

    servers = list(list_running_servers())
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


# ---------------------------------------------------------------------------- connecting


def connect(url: str | None = None, token: str | None = None) -> Connection:
    """Find the server (or use `url`, its `<base_url>blocks/` URL), check that jupyter-blocks
    answers there and point ipythonblocks at it. Returns the connection; raises
    `BlocksConnectionError` with what to do when there is no usable server."""
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
    author = _check_server(url, token, found_by)
    _point_ipythonblocks_at(url)
    _connection = Connection(url=url, author=author, found_by=found_by, token=token)
    log.info("jupyter-blocks: connected to %s as %s (found by %s)", url, author, found_by)
    return _connection


def disconnect() -> None:
    """Undo `connect()`: ipythonblocks talks to ipythonblocks.org again."""
    global _connection
    ipb._POST_URL, ipb._GET_URL_PUBLIC, ipb._GET_URL_SECRET = _STOCK_URLS
    for cls, name, method in _STOCK_METHODS:
        setattr(cls, name, method)
    _connection = None


def _check_server(url: str, token: str | None, found_by: str) -> str:
    """The author the server sees for `token`, or a `BlocksConnectionError` saying what to do."""
    try:
        return str(_request("GET", url + "api/me", token).json()["author"])
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


def _point_ipythonblocks_at(url: str) -> None:
    braces_escaped = url.replace("{", "{{").replace("}", "}}")
    ipb._POST_URL = url + "post"
    ipb._GET_URL_PUBLIC = braces_escaped + "get/{0}"
    ipb._GET_URL_SECRET = braces_escaped + "get/secret/{0}"
    BlockGrid.post_to_web = _post_to_web
    BlockGrid.from_web = classmethod(_block_grid_from_web)
    ImageGrid.from_web = classmethod(_image_grid_from_web)


def _current() -> Connection:
    return _connection or connect()


# ------------------------------------- what connect() puts on BlockGrid / ImageGrid


def _post_to_web(self: BlockGrid, code_cells: CellSpec | None = None, secret: bool = False) -> str:
    """Post this grid to the Jupyter server (jupyter-blocks) and return the URL of its page.

    code_cells: cells of this notebook to show with the grid, e.g. 3, "3,5,8:10" or slice(1, 4).
    secret: if True the grid is not listed in the gallery; share its URL to show it.
    """
    payload = _payload(self, code_cells, secret)
    response = _request("POST", ipb._POST_URL, _current().token, data=json.dumps(payload))
    return str(response.json()["url"])


def _block_grid_from_web(cls: type[GridT], grid_id: str, secret: bool = False) -> GridT:
    """Make a grid from one stored on the Jupyter server (jupyter-blocks)."""
    return _grid_from_data(cls, _fetch_grid_data(grid_id, secret))


def _image_grid_from_web(
    cls: type[GridT], grid_id: str, secret: bool = False, origin: str | None = None
) -> GridT:
    """Make an ImageGrid from one stored on the Jupyter server (jupyter-blocks).

    origin: 'lower-left' or 'upper-left'; default: the stored grid's, else 'lower-left'.
    """
    return _grid_from_data(cls, _fetch_grid_data(grid_id, secret), origin)


def _fetch_grid_data(grid_id: str, secret: bool) -> dict[str, Any]:
    template = ipb._GET_URL_SECRET if secret else ipb._GET_URL_PUBLIC
    url = template.format(urllib.parse.quote(str(grid_id), safe=""))
    data: dict[str, Any] = _request("GET", url, _current().token).json()
    return data


# ---------------------------------------------------------------------------- helpers


def post(
    grid: BlockGrid,
    title: str | None = None,
    code_cells: CellSpec | None = None,
    secret: bool = False,
) -> str:
    """Store `grid` (a BlockGrid or ImageGrid) on the server with an optional `title` and return
    the URL of its page. `code_cells` and `secret` are those of `grid.post_to_web()`."""
    connection = _current()
    payload = _payload(grid, code_cells, secret)
    if title is not None:
        payload["title"] = title
    response = _request("POST", connection.url + "api/grids", connection.token, json=payload)
    return str(response.json()["url"])


def load(id_or_url: str, secret: bool | None = None) -> BlockGrid:
    """The grid stored under `id_or_url`: an id, or a page URL `.../blocks/<id>` or
    `.../blocks/secret/<id>` (looked up on the server this kernel is connected to).

    Gives a BlockGrid or an ImageGrid (with its stored origin) as it was posted. `secret`
    (default: what the URL says, else either) insists that the grid is, or is not, secret.
    """
    grid_id, secret_in_url = parse_grid_reference(id_or_url)
    if secret is None:
        secret = secret_in_url
    connection = _current()
    record = _request(
        "GET",
        connection.url + "api/grids/" + urllib.parse.quote(grid_id, safe=""),
        connection.token,
    ).json()
    if secret is not None and record["secret"] != secret:
        kind = "secret" if secret else "public"
        raise BlocksError(f"Grid {grid_id} is not a {kind} grid.")
    cls = ImageGrid if record["ipb_class"] == "ImageGrid" else BlockGrid
    return _grid_from_data(cls, record["grid_data"])


def gallery(limit: int | None = None, author: str | None = None) -> list[dict[str, Any]]:
    """Summaries of the newest public grids (dicts as in `GET blocks/api/grids`), at most
    `limit` (server's page size by default, 100 at most), only `author`'s if given."""
    connection = _current()
    params = {
        name: value for name, value in (("limit", limit), ("author", author)) if value is not None
    }
    response = _request("GET", connection.url + "api/grids", connection.token, params=params)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def parse_grid_reference(id_or_url: str) -> tuple[str, bool | None]:
    """`(grid id, secret)` from an id (secret unknown: None) or a grid page URL or path
    (`.../blocks/<id>`: False, `.../blocks/secret/<id>`: True). ValueError for anything else."""
    text = id_or_url.strip()
    if _GRID_ID.fullmatch(text):
        return text, None
    segments = [
        urllib.parse.unquote(segment)
        for segment in urllib.parse.urlsplit(text).path.split("/")
        if segment
    ]
    if len(segments) >= 3 and segments[-3] == "blocks" and segments[-2] == "secret":
        grid_id, secret = segments[-1], True
    elif len(segments) >= 2 and segments[-2] == "blocks":
        grid_id, secret = segments[-1], False
    else:
        raise ValueError(
            f"{id_or_url!r} is neither a grid id nor a grid page URL "
            "(.../blocks/<id> or .../blocks/secret/<id>)."
        )
    if not _GRID_ID.fullmatch(grid_id):
        raise ValueError(f"{grid_id!r} in {id_or_url!r} is not a grid id.")
    return grid_id, secret


def _payload(grid: BlockGrid, code_cells: CellSpec | None, secret: bool) -> dict[str, Any]:
    # ipythonblocks builds the payload (and reads code cells from IPython's history); the
    # server also keeps an ImageGrid's origin. `_to_simple_grid` gives the rows of the internal
    # grid, top row first whatever the origin, and `_load_simple_grid` reads them back the same
    # way, so with the origin restored the round trip is exact.
    payload: dict[str, Any] = grid._construct_post_request(code_cells, secret)
    if isinstance(grid, ImageGrid):
        payload["grid_data"]["origin"] = grid.origin
    return payload


def _grid_from_data(
    cls: type[GridT], grid_data: dict[str, Any], origin: str | None = None
) -> GridT:
    """A grid of class `cls` from stored data; an ImageGrid gets `origin`, else the stored one
    (else ipythonblocks' default, lower-left)."""
    options = {}
    if issubclass(cls, ImageGrid):
        options["origin"] = origin or grid_data.get("origin", "lower-left")
    blocks = grid_data["blocks"]
    grid = cls(
        grid_data["width"],
        grid_data["height"],
        block_size=blocks[0][0][3],
        lines_on=grid_data["lines_on"],
        **options,
    )
    grid._load_simple_grid(blocks)
    return grid


def _request(method: str, url: str, token: str | None, **kwargs: Any) -> requests.Response:
    """Send a request with the token in the Authorization header (never in the URL).

    Without a token (a server with authentication disabled) the server checks XSRF on writes,
    as it skips only for token requests: send the cookie and header pair a browser would.
    """
    if token:
        headers = {"Authorization": f"token {token}"}
    else:
        headers = {"X-XSRFToken": _XSRF, "Cookie": f"_xsrf={_XSRF}"}
    try:
        response = requests.request(
            method, url, headers=headers, timeout=REQUEST_TIMEOUT, allow_redirects=False, **kwargs
        )
    except requests.RequestException as error:
        raise BlocksConnectionError(f"Cannot reach the Jupyter server at {url}: {error}") from error
    if response.status_code < 300:
        return response
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or response.reason or "request failed"
    if response.is_redirect:
        message = f"redirected to {response.headers.get('Location')} (not logged in?)"
    raise BlocksRequestError(
        f"{method} {url}: {response.status_code} {message}",
        status=response.status_code,
        errors=body.get("errors") or [],
        response=response,
    )


# ---------------------------------------------------------------------------- IPython


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext jupyter_blocks`: connect and confirm in one line."""
    from IPython.display import display

    connection = connect()
    display(
        {"text/plain": f"jupyter-blocks: grids go to {connection.url} as {connection.author}"},
        raw=True,
    )


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext jupyter_blocks`: ipythonblocks talks to ipythonblocks.org again."""
    disconnect()

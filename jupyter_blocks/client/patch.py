"""Point ipythonblocks at this kernel's jupyter-blocks server.

`attach(url, transport)` sets the module constants (`_POST_URL`, `_GET_URL_PUBLIC`,
`_GET_URL_SECRET`) to the server's `blocks/` endpoints, so nothing in ipythonblocks names the
public site any more, and replaces `BlockGrid.post_to_web` and `BlockGrid.from_web` /
`ImageGrid.from_web` (which call the module-level `requests.post` / `requests.get` without
headers) with ones that send their requests through the transport `attach` is given: that of
this kernel's connection, made on first use (`connection.attach_ipythonblocks`). The
replacements also do more than the stock ones:

- code cells are sent as typed (`%load_ext ...`), not as IPython rewrote them;
- a grid gets a title: `post_to_web(title=...)`, else the notebook's name and the cell number;
- a grid loaded with `from_web(X)` remembers X, and posting it records X as its parent (remix).

`detach()` restores the stock constants and methods.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, TypeVar

import requests
from ipythonblocks import BlockGrid, ImageGrid
from ipythonblocks import ipythonblocks as ipb

from .errors import BlocksError, BlocksRequestError
from .transport import Transport

CellSpec = int | str | slice
"""Code cells as ipythonblocks takes them: 3, "3,5,8:10" or slice(1, 4) (numbers of `In`)."""

GridT = TypeVar("GridT", bound=BlockGrid)

# The attribute a loaded grid keeps its id in, so that posting it records its parent.
PARENT_ATTRIBUTE = "_jupyter_blocks_parent"
# The notebook a kernel runs for, as jupyter_server tells kernels it starts.
ENV_SESSION_NAME = "JPY_SESSION_NAME"
# Longest notebook name in a default title (titles have a limit, 200 by default).
MAX_TITLE_NAME_CHARS = 120

_STOCK_URLS = (ipb._POST_URL, ipb._GET_URL_PUBLIC, ipb._GET_URL_SECRET)
_STOCK_METHODS = [
    (cls, name, cls.__dict__[name])
    for cls, name in ((BlockGrid, "post_to_web"), (BlockGrid, "from_web"), (ImageGrid, "from_web"))
]
# What the replaced methods send their requests through, while attached.
_transport: Callable[[], Transport] | None = None


def attach(url: str, transport: Callable[[], Transport]) -> None:
    """ipythonblocks talks to the jupyter-blocks server at `url` (its `blocks/` URL) only, and
    sends its requests through `transport()`, called at each request (so that the connection
    can be made on first use)."""
    global _transport
    _transport = transport
    braces_escaped = url.replace("{", "{{").replace("}", "}}")
    ipb._POST_URL = url + "post"
    ipb._GET_URL_PUBLIC = braces_escaped + "get/{0}"
    ipb._GET_URL_SECRET = braces_escaped + "get/secret/{0}"
    BlockGrid.post_to_web = _post_to_web
    BlockGrid.from_web = classmethod(_block_grid_from_web)
    ImageGrid.from_web = classmethod(_image_grid_from_web)


def detach() -> None:
    global _transport
    _transport = None
    ipb._POST_URL, ipb._GET_URL_PUBLIC, ipb._GET_URL_SECRET = _STOCK_URLS
    for cls, name, method in _STOCK_METHODS:
        setattr(cls, name, method)


# ------------------------------------- what attach() puts on BlockGrid / ImageGrid


def _post_to_web(
    self: BlockGrid,
    code_cells: CellSpec | None = None,
    secret: bool = False,
    title: str | None = None,
) -> str:
    """Post this grid to the Jupyter server (jupyter-blocks) and return the URL of its page.

    code_cells: cells of this notebook to show with the grid, e.g. 3, "3,5,8:10" or slice(1, 4).
    secret: if True the grid is not listed in the gallery; share its URL to show it.
    title: shown in the gallery; default: the notebook's name and this cell's number.
    """
    payload = grid_payload(self, code_cells, secret, title)
    return str(_request("POST", "post", links=True, json=payload).json()["url"])


def _block_grid_from_web(cls: type[GridT], grid_id: str, secret: bool = False) -> GridT:
    """Make a grid from one stored on the Jupyter server (jupyter-blocks)."""
    return grid_from_data(cls, _fetch_grid_data(grid_id, secret), parent=grid_id)


def _image_grid_from_web(
    cls: type[GridT], grid_id: str, secret: bool = False, origin: str | None = None
) -> GridT:
    """Make an ImageGrid from one stored on the Jupyter server (jupyter-blocks).

    origin: 'lower-left' or 'upper-left'; default: the stored grid's, else 'lower-left'.
    """
    return grid_from_data(cls, _fetch_grid_data(grid_id, secret), origin, parent=grid_id)


def _fetch_grid_data(grid_id: str, secret: bool) -> dict[str, Any]:
    if not str(grid_id).strip():
        raise ValueError(
            "The grid id is empty: pass the id at the end of a grid's page URL, "
            "e.g. BlockGrid.from_web('Xk9aQe')."
        )
    quoted = urllib.parse.quote(str(grid_id), safe="")
    path = f"get/secret/{quoted}" if secret else f"get/{quoted}"
    try:
        data: dict[str, Any] = _request("GET", path).json()
    except BlocksRequestError as error:
        if error.status == 404 and not secret:
            raise BlocksRequestError(
                f"{error} (no public grid has this id; if it is a secret grid, load it with "
                f"from_web({str(grid_id)!r}, secret=True))",
                status=error.status,
                errors=error.errors,
                response=error.response,
            ) from error
        raise
    return data


def _request(method: str, path: str, links: bool = False, **kwargs: Any) -> requests.Response:
    assert _transport is not None, "the methods that call this are there only while attached"
    return _transport().request(method, path, links, **kwargs)


# ---------------------------------------------------------------------------- payloads


def grid_payload(
    grid: BlockGrid, code_cells: CellSpec | None, secret: bool, title: str | None
) -> dict[str, Any]:
    """What jupyter-blocks stores: ipythonblocks' payload, plus an ImageGrid's origin, the
    code as typed, a title and the grid it was loaded from."""
    # `_to_simple_grid` gives the rows of the internal grid, top row first whatever the
    # origin, and `_load_simple_grid` reads them back the same way, so with the origin
    # restored the round trip is exact.
    payload: dict[str, Any] = grid._construct_post_request(None, secret)
    if isinstance(grid, ImageGrid):
        payload["grid_data"]["origin"] = grid.origin
    if code_cells is not None:
        payload["code_cells"] = code_as_typed(code_cells)
    payload["title"] = default_title() if title is None else title
    payload["parent"] = getattr(grid, PARENT_ATTRIBUTE, None)
    return payload


def _shell() -> Any:
    from IPython import get_ipython

    return get_ipython()


def code_as_typed(cells: CellSpec) -> list[str]:
    """The cells numbered `cells` (as ipythonblocks reads them) as the user typed them: from
    IPython's raw input history, so `%load_ext x` stays that, not `get_ipython().run_line_magic`.
    """
    shell = _shell()
    if shell is None:
        raise BlocksError("code_cells needs IPython: it reads the cells of this notebook")
    typed: list[str] = shell.history_manager.input_hist_raw
    return [typed[number] for number in ipb._parse_cells_spec(cells, len(typed))]


def default_title() -> str | None:
    """`<notebook name> · cell <n>`: the notebook this kernel runs for and the number of the
    running cell (`In[n]`, shown as `[n]` next to it), the notebook's name alone before any
    cell; None outside a notebook."""
    session = os.environ.get(ENV_SESSION_NAME)
    if not session:
        return None
    name = PurePath(session).name.removesuffix(".ipynb")
    if len(name) > MAX_TITLE_NAME_CHARS:
        name = name[: MAX_TITLE_NAME_CHARS - 1] + "…"
    shell = _shell()
    # The running cell's input is stored before it runs: it is the last one (IPython's own
    # execution_count is already past it in IPython 9, not yet in IPython 8).
    cell = len(shell.history_manager.input_hist_raw) - 1 if shell is not None else 0
    return f"{name} · cell {cell}" if cell > 0 else name


def grid_from_data(
    cls: type[GridT],
    grid_data: dict[str, Any],
    origin: str | None = None,
    parent: str | None = None,
) -> GridT:
    """A grid of class `cls` from stored data; an ImageGrid gets `origin`, else the stored one
    (else ipythonblocks' default, lower-left). `parent`: the id it was loaded from."""
    options = {}
    if issubclass(cls, ImageGrid):
        options["origin"] = origin or grid_data.get("origin", "lower-left")
    blocks = grid_data["blocks"]
    grid: GridT = cls(
        grid_data["width"],
        grid_data["height"],
        block_size=blocks[0][0][3],
        lines_on=grid_data["lines_on"],
        **options,
    )
    grid._load_simple_grid(blocks)
    setattr(grid, PARENT_ATTRIBUTE, parent)
    return grid

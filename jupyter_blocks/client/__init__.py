"""Kernel side of jupyter-blocks: share ipythonblocks grids with the Jupyter server of this kernel.

In a kernel started by a Jupyter server running jupyter-blocks, nothing needs to be typed:
ipythonblocks is pointed at that server as soon as it is imported (see
`jupyter_blocks.kernel_hook`)::

    from ipythonblocks import BlockGrid
    url = grid.post_to_web()          # stored on this Jupyter server, page at `url`
    same = BlockGrid.from_web(grid_id)

`%load_ext jupyter_blocks` (or `connect()`) connects at once and says where grids go.

The modules: `discovery` finds the server, `transport` talks HTTP to it on one
`requests.Session`, `connection` keeps the one connection and points ipythonblocks at it,
`patch` gives ipythonblocks its URLs and methods that use that connection, `functions` holds
the helpers beyond ipythonblocks (`post` with a title, `load` by page URL, `gallery`). Data
flows one way: `connection` hands `patch` the way to its transport, and `patch` knows no
connection.
"""

from __future__ import annotations

from typing import Any

# First, before any module of ours: where the import hook is installed (kernel_hook), this
# import attaches ipythonblocks to the server, which imports our modules; none of them may be
# half-imported then (as one would be, were it the first to import ipythonblocks).
import ipythonblocks  # noqa: F401

from ..kernel_env import ENV_HUB_API_TOKEN, ENV_HUB_SERVICE_PREFIX, ENV_HUB_SERVICE_URL
from .connection import Connection, connect, disconnect
from .discovery import discover
from .errors import BlocksConnectionError, BlocksError, BlocksRequestError
from .functions import gallery, load, parse_grid_reference, post

__all__ = [
    "ENV_HUB_API_TOKEN",
    "ENV_HUB_SERVICE_PREFIX",
    "ENV_HUB_SERVICE_URL",
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

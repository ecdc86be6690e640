"""jupyter-blocks: share and browse ipythonblocks grids inside Jupyter."""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # running from a source checkout that was never built
    __version__ = "0.0.0+unknown"


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import BlocksApp

    return [{"module": "jupyter_blocks", "app": BlocksApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-blocks"}]


def post(grid: Any, title: str | None = None, code_cells: Any = None, secret: bool = False) -> str:
    """Store an ipythonblocks grid on this kernel's Jupyter server; the URL of its page.
    `jupyter_blocks.client.post`, importable from the package (title: by default the notebook's
    name and the cell number)."""
    from .client import post as post_grid

    return post_grid(grid, title=title, code_cells=code_cells, secret=secret)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext jupyter_blocks` in a kernel: share grids with this kernel's Jupyter server."""
    from .client import load_ipython_extension as load_client

    load_client(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """`%unload_ext jupyter_blocks`: ipythonblocks talks to ipythonblocks.org again."""
    from .client import unload_ipython_extension as unload_client

    unload_client(ipython)

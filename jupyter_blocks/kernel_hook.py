"""Make kernels use their server's jupyter-blocks with no step at all.

In kernels started by a server running jupyter-blocks (any Python process with
JUPYTER_BLOCKS_URL set, in fact, see `kernel_env`), the `jupyter_blocks.pth` file installed into
site-packages calls `install_ipythonblocks_hook()` at interpreter start: when the program
imports ipythonblocks, it is pointed at the server right after
(`jupyter_blocks.client.connection.attach_ipythonblocks`), with no network contact until a grid
is posted or loaded. A `.pth` file rather than IPython configuration: IPython reads no `*.d`
directories of configuration (traitlets loads one `ipython_kernel_config` file per directory,
which a user's or another package's file would replace), and the hook also covers scripts run
in Jupyter's terminals. It costs one environment lookup in processes without the variable and
one small import in those with it; processes that never import ipythonblocks load nothing more.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from typing import TYPE_CHECKING, Any, cast

from .kernel_env import ENV_URL

if TYPE_CHECKING:
    from importlib.abc import Loader


def install_ipythonblocks_hook() -> None:
    """Point ipythonblocks at this process's jupyter-blocks server (JUPYTER_BLOCKS_URL) as soon
    as it is imported: now if it already is, else through a one-time import hook."""
    url = os.environ[ENV_URL]
    if "ipythonblocks" in sys.modules:
        _attach_to_server(url)
    elif not any(isinstance(finder, _IpythonblocksFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _IpythonblocksFinder(url))


def _attach_to_server(url: str) -> None:
    # Imported only once ipythonblocks is: the client imports it, and requests.
    from .client.connection import attach_ipythonblocks

    attach_ipythonblocks(url)


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

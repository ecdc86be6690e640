"""A build hook that runs before the JupyterLab extension is built: without a prebuilt
extension in the tree (a fresh checkout), building needs Node.js, so say so at once and clearly
instead of failing deep inside the npm build."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MIN_NODE = 20
BUILT = Path("jupyter_blocks", "labextension", "static", "style.js")


class NodeCheckHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if (Path(self.root) / BUILT).exists():
            return  # an sdist, or a checkout built before: nothing to build
        node = shutil.which("node")
        found = ""
        if node is not None:
            output = subprocess.run(
                [node, "--version"], capture_output=True, text=True, check=False
            ).stdout
            found = output.strip()
            major = re.match(r"v(\d+)\.", found)
            if major and int(major.group(1)) >= MIN_NODE:
                return
        problem = f"found Node.js {found} at {node}" if node else "Node.js (`node`) is not on PATH"
        raise RuntimeError(
            f"Building jupyter-blocks from a checkout builds its JupyterLab panel, which needs "
            f"Node.js {MIN_NODE} or newer: {problem}. Install Node.js {MIN_NODE}+ (for example "
            "`apt-get install nodejs`, `conda install -c conda-forge nodejs`, or from "
            "https://nodejs.org) and run the install again."
        )

"""What the browser tests add to tests/utils: Debian's chromium, JupyterLab's arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GALLERY_ID = "jupyter-blocks-gallery"


LAB_ARGS = [
    # window.jupyterapp, to run commands, in JupyterLab and in Notebook 7 (on the same server)
    "--LabApp.expose_app_in_browser=True",
    "--JupyterNotebookApp.expose_app_in_browser=True",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]


@dataclass
class Seeded:
    alice: list[dict[str, Any]]
    bob: list[dict[str, Any]]

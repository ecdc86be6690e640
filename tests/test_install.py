"""Installing from a checkout: without Node.js, `pip install .` stops at once and says why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# What a fresh checkout does not have: built files, environments, dependencies.
NOT_IN_A_CHECKOUT = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "lib", "labextension", "__pycache__", "*.egg-info"
)


def test_pip_install_without_node_fails_early_with_what_to_install(tmp_path: Any) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=NOT_IN_A_CHECKOUT)
    shutil.copytree(ROOT / "labextension", checkout / "labextension", ignore=NOT_IN_A_CHECKOUT)
    assert not (checkout / "jupyter_blocks" / "labextension").exists()
    # A PATH with Python and nothing else: no node, no npm.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    environment = {**os.environ, "PATH": str(bin_dir), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "wheels"), "."],
        cwd=checkout,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "needs Node.js 20 or newer: Node.js (`node`) is not on PATH" in output
    assert "Install Node.js 20+" in output
    assert not list(tmp_path.glob("wheels/*.whl"))

"""The server extension and the JupyterLab extension are enabled and OK in the environment of
this Python: `python .ci/check_extensions.py` (run by .ci/check-wheel in the new environment)."""

import re
import subprocess
import sys
from pathlib import Path


def listing(*command: str) -> str:
    """What `jupyter <command>` prints (both streams), without colours."""
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", *command], capture_output=True, text=True, check=True
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    print(text)
    return text


def main() -> None:
    prefix = Path(sys.prefix)
    server = listing("server", "extension", "list")
    enabled = re.search(
        rf"^Config dir: {re.escape(str(prefix / 'etc' / 'jupyter'))}\n"
        r"(?:    .*\n)*?    jupyter_blocks enabled\n    - Validating jupyter_blocks...\n"
        r"      jupyter_blocks \S+ OK$",
        server,
        re.M,
    )
    if not enabled:
        sys.exit(f"jupyter_blocks is not enabled and OK in {prefix}/etc/jupyter")
    lab = listing("labextension", "list")
    installed = re.search(
        rf"^{re.escape(str(prefix / 'share' / 'jupyter' / 'labextensions'))}\n"
        r"(?:        .*\n)*?        jupyter-blocks v\S+ enabled OK \(python, jupyter.blocks\)$",
        lab,
        re.M,
    )
    if not installed:
        sys.exit(f"jupyter-blocks is not enabled and OK in {prefix}/share/jupyter/labextensions")
    print(f"jupyter_blocks and jupyter-blocks are enabled and OK in {prefix}")


if __name__ == "__main__":
    main()

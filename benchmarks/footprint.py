"""The footprint of jupyter-blocks in a personal server as installed (issue 20, item 3).

Starts the same `jupyter server` with the extension and without it
(`--ServerApp.jpserver_extensions=jupyter_blocks=False`), one at a time, with default settings
and its Jupyter data directory (and so its SQLite file) in a temporary directory. For each it
sums the PSS (`Pss:` of `/proc/<pid>/smaps_rollup`) of the server's process tree, kernels
excluded, 5 s after the server first answers and again after 20 posts and 20 page views sent
over HTTP from this process (the server without the extension answers them 404). The figures
are the medians of alternating rounds.

    python benchmarks/footprint.py [--rounds 3] [--json]

This process imports only the standard library, so that it shares no pages of the extension's
libraries with the server it measures (PSS divides shared pages between the processes sharing
them). `benchmarks/run.py` runs it and writes its rows into RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROUNDS = 3
SETTLE_SECONDS = 5
VIEWS = 20
# Goals of issue 20, item 3: extra processes, MB of extra PSS idle and after the views.
GOAL_PROCESSES = 0
GOAL_IDLE_MB = 40
GOAL_AFTER_MB = 60
WITHOUT = "--ServerApp.jpserver_extensions=jupyter_blocks=False"


def payload(number: int) -> bytes:
    """A 10x10 grid and a cell of code, as a class posts them; each differs."""
    blocks = [
        [[number % 256, (r * 20) % 256, (c * 20) % 256, 20] for c in range(10)] for r in range(10)
    ]
    return json.dumps(
        {
            "python_version": [3, 11, 7, "final", 0],
            "ipb_version": "1.9.1",
            "ipb_class": "BlockGrid",
            "code_cells": [
                "from ipythonblocks import BlockGrid\n"
                f"grid = BlockGrid(10, 10, fill=({number % 256}, 0, 0))\n"
                "for block in grid:\n    block.green = block.row * 20\ngrid.show()"
            ],
            "secret": False,
            "grid_data": {"lines_on": True, "width": 10, "height": 10, "blocks": blocks},
        }
    ).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(pid: int) -> list[int]:
    """`pid` and its descendants, without kernels and theirs."""
    found = []
    waiting = [pid]
    while waiting:
        current = waiting.pop()
        try:
            cmdline = Path(f"/proc/{current}/cmdline").read_bytes()
        except OSError:
            continue
        if b"ipykernel" in cmdline:
            continue
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):  # the task has ended
                waiting += [int(child) for child in (task / "children").read_text().split()]
    return found


def pss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


@dataclass
class Measured:
    idle_mb: float
    idle_processes: int
    after_mb: float
    after_processes: int


class Server:
    def __init__(self, home: Path, extra: list[str]) -> None:
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        (home / "root").mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "IPYTHONDIR": str(home / "ipython"),
            "PYTHONWARNINGS": "ignore",
        }
        self.log = (home / "server.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "server",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={home / 'root'}",
                "--ServerApp.allow_root=True",
                *extra,
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while self.request("GET", "api/status")[0] != 200:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start, see {self.log.name}")
            time.sleep(0.1)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.url + path,
            data=body,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            return 0, b""

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def measure_one(home: Path, extra: list[str], expect: int) -> Measured:
    """One server's footprint; `expect` is the status its posts must answer."""
    server = Server(home, extra)
    try:
        time.sleep(SETTLE_SECONDS)
        pids = tree(server.process.pid)
        idle = pss_mb(pids), len(pids)
        for number in range(VIEWS):
            status, body = server.request("POST", "blocks/post", payload(number))
            if status != expect:
                raise RuntimeError(f"POST blocks/post: {status} {body[:200]!r}")
            page = json.loads(body)["url"].rsplit("/", 1)[1] if status == 200 else "abcdef"
            status, body = server.request("GET", f"blocks/{page}")
            if status != (200 if expect == 200 else 404):
                raise RuntimeError(f"GET blocks/{page}: {status} {body[:200]!r}")
        time.sleep(1)
        pids = tree(server.process.pid)
        return Measured(idle[0], idle[1], pss_mb(pids), len(pids))
    finally:
        server.stop()


def measure(rounds: int = ROUNDS) -> list[dict[str, Any]]:
    """The footprint rows: what, measured, ratio (the figure the goal bounds), goal."""
    with_, without = [], []
    with tempfile.TemporaryDirectory(prefix="jupyter-blocks-footprint-") as tmp:
        for round_ in range(rounds):
            with_.append(measure_one(Path(tmp) / f"with-{round_}", [], 200))
            without.append(measure_one(Path(tmp) / f"without-{round_}", [WITHOUT], 404))

    def median(runs: list[Measured], name: str) -> float:
        return statistics.median(getattr(run, name) for run in runs)

    processes = max(max(run.idle_processes, run.after_processes) for run in with_) - min(
        min(run.idle_processes, run.after_processes) for run in without
    )
    idle = median(with_, "idle_mb") - median(without, "idle_mb")
    after = median(with_, "after_mb") - median(without, "after_mb")
    ahead = f"the median of {rounds} rounds"
    return [
        {
            "what": "processes of the server's tree (kernels excluded), with the extension - "
            "without, idle and after the posts and views (most of any round)",
            "measured": f"{max(r.after_processes for r in with_)} / "
            f"{max(r.after_processes for r in without)}",
            "ratio": processes,
            "goal": GOAL_PROCESSES,
        },
        {
            "what": f"PSS of the server's tree {SETTLE_SECONDS} s after start-up, with the "
            f"extension - without, MB ({ahead})",
            "measured": f"{median(with_, 'idle_mb'):.1f} - {median(without, 'idle_mb'):.1f} MB",
            "ratio": idle,
            "goal": GOAL_IDLE_MB,
        },
        {
            "what": f"PSS of the server's tree after {VIEWS} posts of 10x10 grids and {VIEWS} "
            f"views of their pages over HTTP, with the extension - without, MB ({ahead}; "
            "without it they are answered 404)",
            "measured": f"{median(with_, 'after_mb'):.1f} - {median(without, 'after_mb'):.1f} MB",
            "ratio": after,
            "goal": GOAL_AFTER_MB,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    rows = measure(args.rounds)
    if args.json:
        print(json.dumps(rows))
        return
    print("| what | measured | figure | goal | met |\n|---|---|---|---|---|")
    for row in rows:
        met = "yes" if row["ratio"] <= row["goal"] else "**no**"
        print(
            f"| {row['what']} | {row['measured']} | {row['ratio']:.1f} | <= {row['goal']} | {met} |"
        )


if __name__ == "__main__":
    main()

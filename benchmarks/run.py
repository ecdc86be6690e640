"""Throughput and event-loop benchmarks of jupyter-blocks against a real Jupyter server.

Starts `jupyter server` with jupyter-blocks on 127.0.0.1 (on SQLite, and on PostgreSQL when its
server binaries are installed), drives it with a bounded number of concurrent requests, and
writes benchmarks/RESULTS.md. Every number is compared with a baseline measured in the same run
against the same server: jupyter_server's own `GET api/status`, the cheapest authenticated
handler it has. Ratios, not absolute times, are what to compare between machines.

    python benchmarks/run.py [--requests 400] [--concurrency 8] [--no-postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
from browser.servers import ARTIFACTS, start_server, stop_server  # noqa: E402
from postgres import _binaries, running_postgres  # noqa: E402


def payload(width: int, height: int) -> bytes:
    blocks = [
        [[(r * 7) % 256, (c * 11) % 256, (r + c) % 256, 20] for c in range(width)]
        for r in range(height)
    ]
    return json.dumps(
        {
            "python_version": [3, 11, 7, "final", 0],
            "ipb_version": "1.9.1",
            "ipb_class": "BlockGrid",
            "code_cells": ["grid = BlockGrid(10, 10)"],
            "secret": False,
            "grid_data": {"lines_on": True, "width": width, "height": height, "blocks": blocks},
        }
    ).encode()


@contextlib.contextmanager
def jupyter_server(db_url: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """A `jupyter server` with jupyter-blocks on `db_url`: its URL and token."""
    server = start_server(
        f"bench-{workdir.name}",
        "server",
        workdir / "server",
        [f"--BlocksApp.db_url={db_url}", "--ServerApp.log_level=WARN"],
    )
    try:
        yield server.url, server.token
    finally:
        stop_server(server)


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p95_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=20)[18] * 1000


class Load:
    def __init__(self, base: str, token: str, concurrency: int) -> None:
        self.base, self.token, self.concurrency = base, token, concurrency
        # force_instance: otherwise every Load on a loop shares one client and its queue
        self.client = AsyncHTTPClient(force_instance=True, max_clients=concurrency)

    async def fetch(self, path: str, method: str = "GET", body: bytes | None = None) -> Any:
        request = HTTPRequest(
            self.base + path,
            method=method,
            body=body,
            headers={"Authorization": f"token {self.token}"},
            request_timeout=120,
            follow_redirects=False,
        )
        response = await self.client.fetch(request, raise_error=False)
        if response.code >= 400:
            raise RuntimeError(f"{method} {path}: {response.code} {response.body[:200]!r}")
        return response

    async def run(self, name: str, count: int, make: Callable[[int], Awaitable[Any]]) -> Result:
        latencies: list[float] = []
        queue = iter(range(count))

        async def worker() -> None:
            for index in queue:
                started = time.perf_counter()
                await make(index)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return Result(name, count, time.perf_counter() - started, latencies)


async def measure(base: str, token: str, requests: int, concurrency: int) -> list[Result]:
    load = Load(base, token, concurrency)
    small, large = payload(10, 10), payload(200, 200)
    ids: list[str] = []

    async def post_small(_: int) -> None:
        response = await load.fetch("blocks/post", "POST", small)
        ids.append(json.loads(response.body)["url"].rsplit("/", 1)[1])

    await load.run("warm-up", 40, lambda _: load.fetch("api/status"))
    results = [
        await load.run("baseline: GET api/status", requests, lambda _: load.fetch("api/status"))
    ]
    results.append(await load.run("POST blocks/post (10x10)", requests, post_small))
    results.append(
        await load.run(
            "GET blocks/api/grids?limit=24",
            requests,
            lambda _: load.fetch("blocks/api/grids?limit=24"),
        )
    )
    results.append(
        await load.run(
            "GET blocks/get/<id>", requests, lambda i: load.fetch(f"blocks/get/{ids[i % len(ids)]}")
        )
    )
    results.append(
        await load.run(
            "GET blocks/api/grids/<id>/thumbnail.svg",
            requests,
            lambda i: load.fetch(f"blocks/api/grids/{ids[i % len(ids)]}/thumbnail.svg"),
        )
    )
    results.append(
        await load.run(
            "GET blocks/<id> (HTML page)",
            requests,
            lambda i: load.fetch(f"blocks/{ids[i % len(ids)]}"),
        )
    )
    results.append(
        await load.run("GET blocks/random", requests, lambda _: load.fetch("blocks/random"))
    )
    big = max(requests // 20, 4)
    results.append(
        await load.run(
            "POST blocks/post (200x200, 40k blocks)",
            big,
            lambda _: load.fetch("blocks/post", "POST", large),
        )
    )

    # Event loop: how long a trivial request waits while large posts are being handled.
    posting = asyncio.ensure_future(
        load.run(
            "(background large posts)", big, lambda _: load.fetch("blocks/post", "POST", large)
        )
    )
    probe = Load(base, token, 1)
    during = await probe.run(
        "api/status latency during large posts", 20, lambda _: probe.fetch("api/status")
    )
    await posting
    results.append(during)
    return results


def table(results: list[Result]) -> list[str]:
    baseline = results[0]
    lines = [
        "| scenario | requests | req/s | ratio to baseline | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.name} | {result.requests} | {result.per_second:.0f} | "
            f"{result.per_second / baseline.per_second:.2f} | {result.p50_ms:.1f} | "
            f"{result.p95_ms:.1f} |"
        )
    idle = baseline.p50_ms
    probe = results[-1]
    lines.append("")
    lines.append(
        f"Event loop: `api/status` answers in {probe.p50_ms:.1f} ms (p50) while 200x200 grids "
        f"are being posted, {probe.p50_ms / idle:.1f}x its {idle:.1f} ms under baseline load."
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-postgresql", action="store_true")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    sections = []
    ARTIFACTS.mkdir(exist_ok=True)  # the servers' logs
    with tempfile.TemporaryDirectory(prefix="jupyter-blocks-bench-") as tmp:
        workdir = Path(tmp)
        databases = [
            ("SQLite", lambda: contextlib.nullcontext(f"sqlite:///{workdir}/bench.sqlite"))
        ]
        if not args.no_postgresql and _binaries():
            databases.append(("PostgreSQL", lambda: _postgres_database()))
        for label, make_db in databases:
            with make_db() as db_url, jupyter_server(db_url, workdir) as (base, token):
                results = asyncio.run(measure(base, token, args.requests, args.concurrency))
            sections += [f"## {label}", "", *table(results), ""]
    header = [
        "# Benchmark results",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; client and server share the machine. "
        f"{args.requests} requests per scenario, {args.concurrency} concurrent.",
        "",
        "Baseline: jupyter_server's own `GET api/status` on the same server in the same run.",
        "",
    ]
    args.output.write_text("\n".join(header + sections))
    print(args.output.read_text())


@contextlib.contextmanager
def _postgres_database() -> Iterator[str]:
    with running_postgres() as server:
        import psycopg

        with psycopg.connect(server.replace("+psycopg", "") + "/postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE blocks_bench")
        yield f"{server}/blocks_bench"


if __name__ == "__main__":
    main()

"""The class-scale row of issue 22: live subscribers while a class posts.

Starts a real `jupyter server` with jupyter-blocks on 127.0.0.1 (a SQLite file, or `--db-url`),
then, from this one asyncio process (standard library and Tornado only):
1. baseline: 30 students post 10x10 grids at 2 posts/s each for `--seconds`, while a prober
   asks `api/status` 20 times a second, one request at a time: its p99 with no subscribers;
   (the prober is a process of its own, so the clients' work does not count as the server's);
2. the same with 300 websocket subscribers of `blocks/api/events` connected: the p99 of
   `api/status` again, and of event delivery (a post sent -> its `posted` event received, over
   every subscriber and post);
3. memory per subscriber: the server's resident memory after the subscribers connected, less
   before, over their number (and after the load, with their buffers).

    python benchmarks/live.py [--subscribers 300] [--students 30] [--rate 2] [--seconds 20]
                              [--db-url postgresql+psycopg://...] [--write benchmarks/LIVE.md]

Goals (issue 22, point 5): delivery p99 <= 1 s, api/status p99 <= 2x the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

STATUS_EVERY = 0.05  # seconds between api/status probes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    home: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def cpu_seconds(self) -> float:
        """CPU time the server has used (user + system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        """The server's resident memory (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def start_server(db_url: str | None) -> Server:
    home = Path(tempfile.mkdtemp(prefix="jupyter-blocks-live-"))
    port, token = free_port(), secrets.token_hex(16)
    (home / "root").mkdir()
    sqlite = f"sqlite:///{home / 'blocks.sqlite'}"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "PYTHONWARNINGS": "ignore",
    }
    profile = os.environ.get("LIVE_PROFILE")  # a file: the server's event loop under cProfile
    args = [
        sys.executable,
        *(["-m", "cProfile", "-o", profile] if profile else []),
        "-m",
        "jupyter_server",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={home / 'root'}",
        "--ServerApp.allow_root=True",
        "--ServerApp.log_level=WARN",
        f"--BlocksApp.db_url={db_url or sqlite}",
    ]
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}/", token, process, home)
    return server


async def wait_until_up(server: Server) -> None:
    client = AsyncHTTPClient()
    for _ in range(600):
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited; see {server.home / 'server.log'}")
        try:
            response = await client.fetch(
                server.url + "api/status", headers=server.headers, raise_error=False
            )
            if response.code == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start")


def payload(title: str) -> bytes:
    blocks = [[[(r * 25) % 256, (c * 25) % 256, 128, 20] for c in range(10)] for r in range(10)]
    return json.dumps(
        {
            "python_version": [3, 11, 7, "final", 0],
            "ipb_version": "1.9.1",
            "ipb_class": "BlockGrid",
            "code_cells": None,
            "secret": False,
            "title": title,
            "grid_data": {"lines_on": True, "width": 10, "height": 10, "blocks": blocks},
        }
    ).encode()


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Run:
    sent: dict[str, float] = field(default_factory=dict)  # title -> when its post was sent
    delivery: list[float] = field(default_factory=list)
    status: list[float] = field(default_factory=list)
    posts: int = 0
    failed_posts: int = 0
    closed: int = 0
    frames: int = 0


async def students(server: Server, run: Run, count: int, rate: float, seconds: float) -> None:
    client = AsyncHTTPClient(max_clients=count)
    start = time.monotonic()

    async def student(number: int) -> None:
        # evenly spread over the interval, each on its own schedule (not after its last answer)
        interval = 1 / rate
        at = start + number * interval / count
        n = 0
        tasks = []
        while at < start + seconds:
            await asyncio.sleep(max(0, at - time.monotonic()))
            title = f"s{number}-{n}"
            n += 1
            run.sent[title] = time.monotonic()
            tasks.append(asyncio.ensure_future(post(title)))
            at += interval
        await asyncio.gather(*tasks)

    async def post(title: str) -> None:
        request = HTTPRequest(
            server.url + "blocks/api/grids",
            method="POST",
            body=payload(title),
            headers=server.headers,
            request_timeout=60,
        )
        response = await client.fetch(request, raise_error=False)
        run.posts += 1
        if response.code != 201:
            run.failed_posts += 1

    await asyncio.gather(*(student(number) for number in range(count)))


def probe(url: str, token: str, stop_file: str) -> None:
    """`--probe`: ask `api/status` one request at a time, every STATUS_EVERY seconds, until
    `stop_file` exists; print the latencies as JSON. A process of its own, so that what the
    simulated clients do in theirs does not count as the server's latency."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    latencies = []
    while not Path(stop_file).exists():
        started = time.monotonic()
        connection.request(
            "GET", parts.path + "api/status", headers={"Authorization": f"token {token}"}
        )
        connection.getresponse().read()
        latencies.append(time.monotonic() - started)
        time.sleep(STATUS_EVERY)
    print(json.dumps(latencies))


async def prober(server: Server, run: Run, stop: asyncio.Event) -> None:
    stop_file = server.home / f"stop-probe-{time.monotonic_ns()}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--probe",
        server.url,
        server.token,
        str(stop_file),
        stdout=asyncio.subprocess.PIPE,
    )
    await stop.wait()
    stop_file.touch()
    output, _ = await process.communicate()
    run.status.extend(json.loads(output))


_PARSED: dict[str | bytes, list[str]] = {}


def posted_titles(message: str | bytes) -> list[str]:
    """The titles of the grids a frame announces as posted. Subscribers of one user get the same
    frames: each is parsed once here, so that the simulated clients' own parsing does not crowd
    the one process that runs them all."""
    titles = _PARSED.get(message)
    if titles is None:
        frame = json.loads(message)
        titles = [
            event["grid"]["title"] for event in frame.get("events", ()) if event["kind"] == "posted"
        ]
        if len(_PARSED) > 64:
            _PARSED.clear()
        _PARSED[message] = titles
    return titles


async def subscriber(ws: WebSocketClientConnection, run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        message = await ws.read_message()
        if message is None:
            if not stop.is_set():  # closed by the server, not at the end of the run
                run.closed += 1
            return
        now = time.monotonic()
        run.frames += 1
        for title in posted_titles(message):
            sent = run.sent.get(title)
            if sent is not None:
                run.delivery.append(now - sent)


async def load(
    server: Server, run: Run, args: argparse.Namespace, sockets: list[WebSocketClientConnection]
) -> None:
    stop = asyncio.Event()
    readers = [asyncio.ensure_future(subscriber(ws, run, stop)) for ws in sockets]
    probe = asyncio.ensure_future(prober(server, run, stop))
    await students(server, run, args.students, args.rate, args.seconds)
    await asyncio.sleep(1.5)  # the last events arrive
    stop.set()
    await probe
    for ws in sockets:
        ws.close()
    await asyncio.gather(*readers, return_exceptions=True)


async def connect(server: Server, count: int) -> list[WebSocketClientConnection]:
    url = server.url.replace("http://", "ws://") + "blocks/api/events"
    sockets = []
    for _ in range(count):
        ws = await websocket_connect(HTTPRequest(url, headers=server.headers))
        hello = await ws.read_message()
        assert hello is not None and json.loads(hello) == {"type": "hello"}, hello
        sockets.append(ws)
    return sockets


async def measure(args: argparse.Namespace) -> dict[str, float | int | str]:
    server = start_server(args.db_url)
    try:
        await wait_until_up(server)
        # warm up: the first post migrates nothing, but loads the validator, the renderer...
        warm = Run()
        await students(server, warm, args.students, args.rate, 3)
        baseline = Run()
        await load(server, baseline, args, [])
        await asyncio.sleep(2)
        before = server.rss_kib()
        sockets = await connect(server, args.subscribers)
        await asyncio.sleep(2)
        connected = server.rss_kib()
        live = Run()
        server_cpu, client_cpu, wall = server.cpu_seconds(), time.process_time(), time.monotonic()
        await load(server, live, args, sockets)
        server_cpu = server.cpu_seconds() - server_cpu
        client_cpu = time.process_time() - client_cpu
        wall = time.monotonic() - wall
        after = server.rss_kib()
        expected = live.posts * args.subscribers
        return {
            "database": "PostgreSQL" if args.db_url else "SQLite",
            "subscribers": args.subscribers,
            "posts": live.posts,
            "failed_posts": live.failed_posts + baseline.failed_posts,
            "delivered": len(live.delivery),
            "expected": expected,
            "closed": live.closed,
            "delivery_p50": percentile(live.delivery, 0.5),
            "delivery_p99": percentile(live.delivery, 0.99),
            "delivery_max": max(live.delivery, default=float("nan")),
            "status_p99_base": percentile(baseline.status, 0.99),
            "status_p99_live": percentile(live.status, 0.99),
            "status_median_base": statistics.median(baseline.status),
            "status_median_live": statistics.median(live.status),
            "kib_per_subscriber": (connected - before) / args.subscribers,
            "kib_per_subscriber_after_load": (after - before) / args.subscribers,
            "server_cpu_share": server_cpu / wall,
            "client_cpu_share": client_cpu / wall,
            "load_average": os.getloadavg()[0],
        }
    finally:
        server.process.send_signal(2 if os.environ.get("LIVE_PROFILE") else 15)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
        shutil.rmtree(server.home, ignore_errors=True)


def rows(result: dict[str, float | int | str]) -> list[str]:
    def ms(name: str) -> str:
        return f"{float(result[name]) * 1000:.0f} ms"

    ratio = float(result["status_p99_live"]) / float(result["status_p99_base"])
    delivery_ok = float(result["delivery_p99"]) <= 1.0
    return [
        f"| {result['database']} | event delivery p99 (post sent -> event received), "
        f"{result['subscribers']} subscribers | {ms('delivery_p99')} (p50 {ms('delivery_p50')}, "
        f"max {ms('delivery_max')}; {result['delivered']} of {result['expected']} delivered) "
        f"| <= 1 s | {'met' if delivery_ok else 'MISSED'} |",
        f"| {result['database']} | `api/status` p99 with subscribers / without "
        f"| {ms('status_p99_live')} / {ms('status_p99_base')} = {ratio:.2f}x "
        f"(medians {ms('status_median_live')} / {ms('status_median_base')}) "
        f"| <= 2x | {'met' if ratio <= 2 else 'MISSED'} |",
        f"| {result['database']} | server memory per subscriber (RSS) "
        f"| {float(result['kib_per_subscriber']):.0f} KiB connected, "
        f"{float(result['kib_per_subscriber_after_load']):.0f} KiB after the load "
        f"| bounded (512 KiB of waiting frames at most) | - |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--rate", type=float, default=2.0, help="posts per second per student")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--db-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--write", type=Path, default=None, help="append the rows to this file")
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(*args.probe)
        return
    result = asyncio.run(measure(args))
    print(json.dumps(result, indent=2))
    table = rows(result)
    print("\n".join(table))
    if args.write:
        with args.write.open("a") as out:
            out.write("\n".join(table) + "\n")


if __name__ == "__main__":
    main()

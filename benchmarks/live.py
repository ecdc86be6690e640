"""The class-scale rows of issue 22: live subscribers while a class posts.

Starts a real `jupyter server` with jupyter-blocks on 127.0.0.1, with the class gallery's
settings (those of `jupyter blocks serve`, as run.py's class gallery rows) and a class of named
users (class_users.py: one token each, as a Hub gives them, so each request's author and viewer
is its user), on a new SQLite file, on `--db-url`, or on a throwaway PostgreSQL
(`--postgresql`, tests/postgres.py). Then, from this one asyncio process, in `--rounds` rounds:
1. baseline: 30 students, each with their own token, post 10x10 grids at 2 posts/s each for
   `--seconds`, while a prober asks `api/status` 40 times a second, one request at a time: its
   p99 with no subscribers (the prober is a process of its own, so that the clients' work does
   not count as the server's);
2. the same with 300 websocket subscribers of `blocks/api/events` connected, spread evenly over
   the students' users (their panels, walls and pages): the p99 of `api/status` again, and of
   event delivery (a post sent -> its `posted` event read, over every subscriber and post);
3. memory per subscriber: the server's resident memory after the subscribers connected, less
   before, over their number (and after the load, with their buffers), in the first round
   (later rounds' subscribers reuse the memory the first ones freed).
A round's ratio compares its own two halves, one right after the other, so that other work on
the machine tends to weigh on both alike; the rows give the median round and the spread.

The subscribers are asyncio protocols that do the websocket handshake and read frames and
little else (see `Subscription`): the simulated clients share the machine with the server,
which 300 browsers of a class would not.

    python benchmarks/live.py [--subscribers 300] [--students 30] [--rate 2] [--seconds 10]
                              [--rounds 5] [--db-url URL | --postgresql]
                              [--write benchmarks/LIVE.md] [--json]

Goals (issue 22, point 5): delivery p99 <= 1 s, api/status p99 <= 2x the baseline's. `--json`
prints the rows as run.py takes them (`run.py --only live` runs this on both databases).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

HERE = Path(__file__).parent
STATUS_EVERY = 0.025  # seconds between api/status probes
# What the server keeps for a subscriber that stops reading, at most (live.MAX_BUFFER_BYTES and
# its socket's kernel send buffer, live.SOCKET_SEND_BUFFER_BYTES doubled by Linux), in KiB.
BOUND_KIB = 512 + 128


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    tokens: list[str]  # the students', in order
    process: subprocess.Popen[bytes]
    home: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].strip("/"))

    def headers(self, student: int = 0) -> dict[str, str]:
        return {"Authorization": f"token {self.tokens[student % len(self.tokens)]}"}

    def cpu_seconds(self) -> float:
        """CPU time the server has used (user + system), its post workers included."""
        total = 0.0
        for pid in [self.process.pid, *children(self.process.pid)]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def rss_kib(self) -> int:
        """The server's resident memory (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *children(int(child))]
    return found


def gallery_settings() -> tuple[str, ...]:
    sys.path.insert(0, str(HERE))
    from run import gallery_settings

    return gallery_settings()


def start_server(db_url: str | None, students: int) -> Server:
    home = Path(tempfile.mkdtemp(prefix="jupyter-blocks-live-"))
    port = free_port()
    (home / "root").mkdir()
    tokens = [secrets.token_hex(16) for _ in range(students)]
    names = {token: f"student-{number}" for number, token in enumerate(tokens)}
    (home / "tokens.json").write_text(json.dumps(names))
    sqlite = f"sqlite:///{home / 'blocks.sqlite'}"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "PYTHONWARNINGS": "ignore",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "LIVE_CLASS_TOKENS": str(home / "tokens.json"),
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
        "--ServerApp.identity_provider_class=class_users.ClassIdentityProvider",
        f"--ServerApp.root_dir={home / 'root'}",
        "--ServerApp.allow_root=True",
        "--ServerApp.log_level=WARN",
        f"--BlocksApp.db_url={db_url or sqlite}",
        *gallery_settings(),
    ]
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Server(f"http://127.0.0.1:{port}/", tokens, process, home)


async def wait_until_up(server: Server) -> None:
    client = AsyncHTTPClient()
    for _ in range(600):
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited: {(server.home / 'server.log').read_text()}")
        try:
            response = await client.fetch(
                server.url + "api/status", headers=server.headers(), raise_error=False
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
    """One half of a round: what was sent and measured."""

    sent: dict[str, float] = field(default_factory=dict)  # title -> when its post was sent
    delivery: list[float] = field(default_factory=list)
    status: list[float] = field(default_factory=list)
    posts: int = 0
    failed_posts: int = 0
    closed: int = 0
    frames: int = 0
    server_cpu: float = 0.0  # CPU seconds over wall seconds
    client_cpu: float = 0.0


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
            title = f"s{number}-{n}-{time.monotonic_ns()}"
            n += 1
            run.sent[title] = time.monotonic()
            tasks.append(asyncio.ensure_future(post(number, title)))
            at += interval
        await asyncio.gather(*tasks)

    async def post(number: int, title: str) -> None:
        request = HTTPRequest(
            server.url + "blocks/api/grids",
            method="POST",
            body=payload(title),
            headers=server.headers(number),
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
        server.tokens[0],
        str(stop_file),
        stdout=asyncio.subprocess.PIPE,
    )
    await stop.wait()
    stop_file.touch()
    output, _ = await process.communicate()
    run.status.extend(json.loads(output))


_PARSED: dict[bytes, list[str]] = {}


def posted_titles(message: bytes) -> list[str]:
    """The titles of the grids a frame announces as posted. A flush sends the same frame to
    many subscribers: each is parsed once here, so that the simulated clients' own parsing does
    not crowd the one process that runs them all."""
    titles = _PARSED.get(message)
    if titles is None:
        frame = json.loads(message)
        titles = [
            event["grid"]["title"] for event in frame.get("events", ()) if event["kind"] == "posted"
        ]
        if len(_PARSED) > 256:
            _PARSED.clear()
        _PARSED[message] = titles
    return titles


class Subscription(asyncio.Protocol):
    """A subscriber of `blocks/api/events`, as little as a websocket client can be: the opening
    handshake, then the server's frames (unmasked, RFC 6455 5.2) read as they arrive, each
    announced post's delivery time noted, pings answered. Tornado's websocket client spends
    several coroutine steps on each frame, which with 300 subscribers in one process took a
    whole core of this two-core machine away from the server."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.buffer = bytearray()
        self.upgraded = False
        self.hello: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.run: Run | None = None
        self.done = False  # closed by us: the end of its half of the round

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
            if status.split()[1:2] != [b"101"]:
                self.hello.set_exception(RuntimeError(f"refused: {bytes(self.buffer)!r}"))
                return
            del self.buffer[: end + 4]
            self.upgraded = True
        while (frame := self._frame()) is not None:
            opcode, message = frame
            if opcode == 0x1:
                self._message(message, now)
            elif opcode == 0x9 and self.transport is not None:  # ping: pong, masked by zeros
                self.transport.write(bytes([0x8A, 0x80 | len(message)]) + bytes(4) + message)
            elif opcode == 0x8 and self.transport is not None:
                self.transport.close()

    def _frame(self) -> tuple[int, bytes] | None:
        buffer = self.buffer
        if len(buffer) < 2:
            return None
        size, start = buffer[1] & 0x7F, 2
        if size == 126:
            size, start = int.from_bytes(buffer[2:4], "big"), 4
        elif size == 127:
            size, start = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < start + size:
            return None
        opcode, message = buffer[0] & 0x0F, bytes(buffer[start : start + size])
        del buffer[: start + size]
        return opcode, message

    def _message(self, message: bytes, now: float) -> None:
        if not self.hello.done():
            if json.loads(message) == {"type": "hello"}:
                self.hello.set_result(None)
            else:
                self.hello.set_exception(RuntimeError(f"not a hello: {message!r}"))
            return
        run = self.run
        if run is None:
            return
        run.frames += 1
        sent = run.sent
        for title in posted_titles(message):
            at = sent.get(title)
            if at is not None:
                run.delivery.append(now - at)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.hello.done():
            self.hello.set_exception(RuntimeError(f"closed before its hello: {exc}"))
        elif not self.done and self.run is not None:  # closed by the server
            self.run.closed += 1

    def close(self) -> None:
        self.done = True
        if self.transport is not None:
            self.transport.close()


async def connect(server: Server, count: int) -> list[Subscription]:
    """`count` subscribers, the nth with the token of student n (of as many as there are)."""
    loop = asyncio.get_running_loop()
    subscriptions = []
    for number in range(count):
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        request = (
            f"GET /blocks/api/events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            f"Authorization: {server.headers(number)['Authorization']}\r\n\r\n"
        ).encode()
        _, subscription = await loop.create_connection(
            lambda request=request: Subscription(request), "127.0.0.1", server.port
        )
        await asyncio.wait_for(subscription.hello, 30)
        subscriptions.append(subscription)
    return subscriptions


async def load(
    server: Server, run: Run, args: argparse.Namespace, subscriptions: list[Subscription]
) -> None:
    """The students' posts for `args.seconds`, with the prober asking `api/status`."""
    stop = asyncio.Event()
    for subscription in subscriptions:
        subscription.run = run
    probe = asyncio.ensure_future(prober(server, run, stop))
    server_cpu, client_cpu, wall = server.cpu_seconds(), time.process_time(), time.monotonic()
    await students(server, run, args.students, args.rate, args.seconds)
    await asyncio.sleep(1.5)  # the last events arrive
    run.server_cpu = (server.cpu_seconds() - server_cpu) / (time.monotonic() - wall)
    run.client_cpu = (time.process_time() - client_cpu) / (time.monotonic() - wall)
    stop.set()
    await probe


@dataclass
class Round:
    baseline: Run
    live: Run
    kib_connected: float  # per subscriber
    kib_after_load: float

    @property
    def ratio(self) -> float:
        return percentile(self.live.status, 0.99) / percentile(self.baseline.status, 0.99)

    @property
    def delivery_p99(self) -> float:
        return percentile(self.live.delivery, 0.99)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with database(args) as db_url:
        server = start_server(db_url, args.students)
        try:
            await wait_until_up(server)
            # warm up: the first posts load the validator, the renderer, the post workers...
            await students(server, Run(), args.students, args.rate, 3)
            rounds = [await one_round(server, args) for _ in range(args.rounds)]
        finally:
            server.process.send_signal(2 if os.environ.get("LIVE_PROFILE") else 15)
            try:
                server.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.process.kill()
            shutil.rmtree(server.home, ignore_errors=True)
    return summary(args, rounds)


async def one_round(server: Server, args: argparse.Namespace) -> Round:
    baseline = Run()
    await load(server, baseline, args, [])
    await asyncio.sleep(2)
    before = server.rss_kib()
    subscriptions = await connect(server, args.subscribers)
    await asyncio.sleep(2)
    connected = server.rss_kib()
    live = Run()
    await load(server, live, args, subscriptions)
    after = server.rss_kib()
    for subscription in subscriptions:
        subscription.close()
    await asyncio.sleep(2)  # the server sees them go
    result = Round(
        baseline,
        live,
        (connected - before) / args.subscribers,
        (after - before) / args.subscribers,
    )
    print(
        f"round: delivery p99 {result.delivery_p99 * 1000:.0f} ms, api/status p99 "
        f"{percentile(live.status, 0.99) * 1000:.0f} / "
        f"{percentile(baseline.status, 0.99) * 1000:.0f} ms = {result.ratio:.2f}x; "
        f"server CPU {live.server_cpu:.2f} / {baseline.server_cpu:.2f}, this process's "
        f"{live.client_cpu:.2f} / {baseline.client_cpu:.2f}; load average "
        f"{os.getloadavg()[0]:.1f}",
        file=sys.stderr,
        flush=True,
    )
    return result


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[str | None]:
    """The database to run on: `--db-url`, a throwaway PostgreSQL, or None (a new SQLite file)."""
    if not args.postgresql:
        yield args.db_url
        return
    sys.path.insert(0, str(HERE.parent))  # the tests package
    import psycopg

    from tests.postgres import running_postgres

    with running_postgres() as url:
        with psycopg.connect(url.replace("+psycopg", "") + "/postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE blocks_live")
        yield f"{url}/blocks_live"


def summary(args: argparse.Namespace, rounds: list[Round]) -> dict[str, Any]:
    """The median round's figures (by each row's own measure) and the spread over rounds."""
    by_delivery = sorted(rounds, key=lambda round: round.delivery_p99)
    by_ratio = sorted(rounds, key=lambda round: round.ratio)
    middle = len(rounds) // 2
    delivered, status = by_delivery[middle].live, by_ratio[middle]
    return {
        "database": "PostgreSQL"
        if args.postgresql or (args.db_url or "").startswith("postgresql")
        else "SQLite",
        "subscribers": args.subscribers,
        "students": args.students,
        "rate": args.rate,
        "seconds": args.seconds,
        "rounds": len(rounds),
        "posts": [round.live.posts for round in rounds],
        "failed_posts": sum(
            round.live.failed_posts + round.baseline.failed_posts for round in rounds
        ),
        "delivered": [len(round.live.delivery) for round in rounds],
        "expected": [round.live.posts * args.subscribers for round in rounds],
        "closed": sum(round.live.closed for round in rounds),
        "delivery_p99": [round.delivery_p99 for round in rounds],
        "delivery_p50": percentile(delivered.delivery, 0.5),
        "delivery_max": max(delivered.delivery, default=float("nan")),
        "median_delivery_p99": by_delivery[middle].delivery_p99,
        "ratios": [round.ratio for round in rounds],
        "median_ratio": status.ratio,
        "status_p99_live": percentile(status.live.status, 0.99),
        "status_p99_base": percentile(status.baseline.status, 0.99),
        "status_p50_live": statistics.median(status.live.status),
        "status_p50_base": statistics.median(status.baseline.status),
        # the first round's: later rounds' subscribers reuse the memory the first ones freed
        "kib_connected": rounds[0].kib_connected,
        "kib_after_load": rounds[0].kib_after_load,
        "server_cpu": [round.live.server_cpu for round in rounds],
        "server_cpu_base": [round.baseline.server_cpu for round in rounds],
        "client_cpu": [round.live.client_cpu for round in rounds],
        "client_cpu_base": [round.baseline.client_cpu for round in rounds],
        "load_average": os.getloadavg()[0],
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows as run.py's `Row`s: what, measured, ratio, goal (None: for reference)."""

    def spread(values: list[float], unit: float = 1.0, digits: int = 2) -> str:
        return f"{min(values) * unit:.{digits}f}-{max(values) * unit:.{digits}f}"

    def ms(value: float) -> str:
        return f"{value * 1000:.0f}"

    rounds = f"the median of {result['rounds']} rounds"
    load = (
        f"{result['subscribers']} subscribers of `blocks/api/events` (of {result['students']} "
        f"users) while {result['students']} students each post 10x10 grids at {result['rate']:g}/s "
        f"for {result['seconds']:g} s"
    )
    delivered = sum(result["delivered"])
    expected = sum(result["expected"])
    return [
        {
            "what": f"event delivery p99 (a post sent -> its event read), {load}, s ({rounds})",
            "measured": (
                f"{result['median_delivery_p99']:.2f} s (rounds {spread(result['delivery_p99'])};"
                f" p50 {result['delivery_p50']:.2f}, max {result['delivery_max']:.2f}; "
                f"{delivered} of {expected} events delivered, {result['closed']} subscribers "
                "closed)"
            ),
            "ratio": result["median_delivery_p99"],
            "goal": 1.0,
        },
        {
            "what": (
                f"`api/status` p99 with {load} / under the same posts with no subscribers "
                f"({rounds}, each its own ratio)"
            ),
            "measured": (
                f"{ms(result['status_p99_live'])} / {ms(result['status_p99_base'])} ms (rounds "
                f"{spread(result['ratios'])}; p50 {result['status_p50_live'] * 1000:.1f} / "
                f"{result['status_p50_base'] * 1000:.1f}; server CPU "
                f"{spread(result['server_cpu'], 100, 0)} / "
                f"{spread(result['server_cpu_base'], 100, 0)} % of a core)"
            ),
            "ratio": result["median_ratio"],
            "goal": 2.0,
        },
        {
            "what": (
                "server memory (RSS) per subscriber after the load, KiB, the first round's "
                "(later ones reuse what it freed); a subscriber that stops reading holds at "
                f"most {BOUND_KIB} KiB: then it is closed"
            ),
            "measured": (
                f"{result['kib_after_load']:.0f} KiB ({result['kib_connected']:.0f} KiB once "
                "connected)"
            ),
            "ratio": result["kib_after_load"],
            "goal": None,
        },
    ]


def markdown(result: dict[str, Any]) -> list[str]:
    lines = []
    for row in rows(result):
        goal = "(none)" if row["goal"] is None else f"<= {row['goal']:g}"
        met = (
            "(reference)"
            if row["goal"] is None
            else "yes"
            if row["ratio"] <= row["goal"]
            else "**no**"
        )
        lines.append(
            f"| {result['database']} | {row['what']} | {row['measured']} | {row['ratio']:.2f} "
            f"| {goal} | {met} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--rate", type=float, default=2.0, help="posts per second per student")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--postgresql", action="store_true", help="on a throwaway PostgreSQL")
    parser.add_argument("--write", type=Path, default=None, help="append the rows to this file")
    parser.add_argument("--json", action="store_true", help="print only the rows, as JSON")
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(*args.probe)
        return
    result = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(rows(result)))
        return
    print(json.dumps(result, indent=2))
    table = markdown(result)
    print("\n".join(table))
    if args.write:
        with args.write.open("a") as out:
            out.write("\n".join(table) + "\n")


if __name__ == "__main__":
    main()

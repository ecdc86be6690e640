"""Benchmarks of jupyter-blocks against real Jupyter servers: the goals of issues 10 and 20.

Starts `jupyter server` with jupyter-blocks on 127.0.0.1 with two profiles of settings: the
class gallery's (what `jupyter blocks serve` runs with, on SQLite and on a throwaway PostgreSQL
when its server binaries are installed) and a personal server's as installed (SQLite). Each
profile gets two servers on one database: one with the read cache off (`cache_seconds=0`),
which the goal rows measure, and one as configured, for the rows labelled "(cached)". The
throughput rows are driven by wrk (`apt-get install wrk`). Every figure is a ratio to something
measured in the same run (the same server's `GET api/status`, `json.loads` of the same body in
a plain Python process, the same request on a small table...), so figures compare between
machines. The class-scale rows of the live gallery (issue 22) come from benchmarks/live.py,
run in a process of its own on each database (`--only live`). Writes benchmarks/RESULTS.md
with the command that made it.

    python benchmarks/run.py [--check] [--scale] [--requests 1600] [--no-postgresql]
                             [--no-sqlite] [--no-gallery] [--no-personal] [--only post,get,...]

`--check` exits 1 when a goal is missed; `--scale` measures the table-size rows at 1,000,000
grids (filled with SQL in bulk) instead of 100,000; `--only` measures some groups of rows (see
SCENARIOS), to compare changes to one path by repeated runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))  # the tests package: its servers and PostgreSQL
from jupyter_blocks.db import create_engine  # noqa: E402
from jupyter_blocks.ids import GridIds  # noqa: E402
from tests.postgres import _binaries, running_postgres  # noqa: E402
from tests.utils import ARTIFACTS, start_server, stop_server  # noqa: E402

SMALL_TABLE = 1_000
# The uncached read rows cycle over this many different grids (listings: as many cursors).
READ_GRIDS = 1_000
# The cached read rows cycle over this many, as a class opens the grids shared with it.
HOT_GRIDS = 50
# The table-size rows' author listing asks for one of this many authors of the bulk fill.
AUTHORS = 100
AUTHOR = "student-7"
# Alternating rounds of a throughput row (`Bench.throughput`), each one second (wrk's shortest
# run) of the row's requests and one of `api/status`, over as many connections.
THROUGHPUT_ROUNDS = 8
THROUGHPUT_CONNECTIONS = 16
# The posts arriving during the rows of reads while posts arrive: 10x10 grids from this many
# clients, each pausing this many milliseconds after each answer.
ARRIVING_CLIENTS = 2
ARRIVING_PAUSE_MS = 10
# Alternating rounds of a row of `api/status` latency under posts (`Bench.status_under`).
LATENCY_ROUNDS = 5
# The throughput rows, and the clients of the rows of latency under posts, are driven by wrk
# (Debian's package `wrk`): written in C, it takes a few microseconds of CPU per request, where a
# Python client takes about as much as the server's own work on `api/status` (README.md). Its
# script sends the requests given in a file, one path a line, in turn, each connection pausing a
# given number of milliseconds after each answer.
WRK_SCRIPT = """
local requests, sent = {}, 0
function init(args)
  local method, body, pause = args[1], nil, tonumber(args[4])
  if pause > 0 then
    delay = function() return pause end
  end
  if args[2] ~= "" then
    local file = io.open(args[2], "rb")
    body = file:read("*a")
    file:close()
  end
  for path in io.lines(args[3]) do
    requests[#requests + 1] = wrk.format(method, path, nil, body)
  end
end
function request()
  sent = sent % #requests + 1
  return requests[sent]
end
"""
# The groups of rows `--only` picks from, in the order they are measured.
SCENARIOS = (
    "post",
    "get",
    "listing",
    "page",
    "thumbnail",
    "under-posts",
    "big-posts",
    "big-page",
    "status-under",
    "rss",
    "largest-pages",
    "scale",
    "footprint",
    "live",
)
# Room for the largest grid (500x500) and code (200 cells of 100,000 characters) in one post.
LARGEST_BODY = 48 * 1024 * 1024
# Code on which pygments' Python lexer is quadratic (issue 13), as long as a cell may be.
SLOW_TO_HIGHLIGHT = " \n" * 50_000

# Views of each of three grids as big as they come, and the process that makes them: each page
# and then the pixels its canvas is drawn from, as a browser would.
PAGE_VIEWS = 10
VIEWER = """
import sys, urllib.request
base, token, *pages = sys.argv[1:]
for page in pages:
    for path in (page, page.replace("blocks/", "blocks/api/grids/", 1) + "/pixels"):
        request = urllib.request.Request(base + path, headers={"Authorization": "token " + token})
        urllib.request.urlopen(request, timeout=300).read()
"""
# The yardstick of the big posts: `json.loads` of the body in a plain Python process, with the
# garbage collector on as it is in a user's server; the median of the given number of times.
JSON_LOADS = """
import json, statistics, sys, time
with open(sys.argv[1], "rb") as file:
    body = file.read()
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    json.loads(body)
    times.append(time.perf_counter() - started)
print(statistics.median(times) * 1000)
"""


@dataclass(frozen=True)
class Profile:
    """Settings a server runs with, and the groups of rows measured with them."""

    title: str
    name: str
    settings: tuple[str, ...]
    databases: tuple[str, ...]
    groups: frozenset[str]
    post_goal: float


def gallery_settings() -> tuple[str, ...]:
    """The BlocksApp settings of `jupyter blocks serve`, as options of a plain `jupyter server`:
    those it takes from `hub.server.service_config` (the rest of that config is where to listen
    and how the Hub authenticates, which a benchmark without a Hub cannot use)."""
    from jupyter_blocks.hub.server import service_config

    config = service_config(
        {"JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:1/", "JUPYTERHUB_API_TOKEN": "-"}
    )
    with contextlib.suppress(OSError, KeyError):
        os.rmdir(config.ServerApp.root_dir)  # the empty place it made to serve from
    return tuple(f"--BlocksApp.{name}={value}" for name, value in config.BlocksApp.items())


def profiles() -> tuple[Profile, ...]:
    return (
        Profile(
            "class gallery settings",
            "gallery",
            # and room for the largest post (the row of `api/status` while the largest pages
            # are viewed); the service's own bound on bodies is `max_body_bytes` too
            (*gallery_settings(), f"--BlocksApp.max_body_bytes={LARGEST_BODY}"),
            ("SQLite", "PostgreSQL"),
            frozenset(SCENARIOS) - {"footprint", "live"},
            0.6,
        ),
        Profile(
            "personal server as installed",
            "personal",
            (),
            ("SQLite",),
            frozenset({"post", "get", "listing", "page"}),
            0.4,
        ),
    )


def payload(width: int, height: int, code_cells: list[str] | None = None, seed: int = 0) -> bytes:
    blocks = [
        [
            [(r * 7 + seed) % 256, (c * 11) % 256, (r + c + seed // 256) % 256, 20]
            for c in range(width)
        ]
        for r in range(height)
    ]
    return json.dumps(
        {
            "python_version": [3, 11, 7, "final", 0],
            "ipb_version": "1.9.1",
            "ipb_class": "BlockGrid",
            "code_cells": code_cells or ["grid = BlockGrid(10, 10)"],
            "secret": False,
            "grid_data": {"lines_on": True, "width": width, "height": height, "blocks": blocks},
        }
    ).encode()


@contextlib.contextmanager
def jupyter_server(
    db_url: str, workdir: Path, label: str, settings: tuple[str, ...] = ()
) -> Iterator[Any]:
    """A `jupyter server` with jupyter-blocks on `db_url` and `settings`."""
    server = start_server(
        f"bench-{label}",
        "server",
        workdir / label,
        [f"--BlocksApp.db_url={db_url}", "--ServerApp.log_level=WARN", *settings],
    )
    try:
        yield server
    finally:
        stop_server(server)


def p(latencies: list[float], percent: int) -> float:
    """The `percent`th percentile of `latencies`, in ms."""
    if len(latencies) < 2:
        return latencies[0] * 1000
    return statistics.quantiles(latencies, n=100, method="inclusive")[percent - 1] * 1000


@dataclass
class Result:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def p50(self) -> float:
        return p(self.latencies, 50)

    @property
    def p99(self) -> float:
        return p(self.latencies, 99)


class Load:
    """Concurrent clients of one server, each with its own connection."""

    def __init__(self, server: Any, concurrency: int) -> None:
        self.base, self.token, self.concurrency = server.url, server.token, concurrency
        # force_instance: otherwise every Load on a loop shares one client and its queue
        self.client = AsyncHTTPClient(force_instance=True, max_clients=concurrency)

    async def fetch(
        self, path: str, method: str = "GET", body: bytes | None = None
    ) -> HTTPResponse:
        request = HTTPRequest(
            self.base + path,
            method=method,
            body=body,
            headers={"Authorization": f"token {self.token}"},
            request_timeout=300,
            follow_redirects=False,
        )
        response = await self.client.fetch(request, raise_error=False)
        if response.code >= 400:
            raise RuntimeError(f"{method} {path}: {response.code} {response.body[:200]!r}")
        return response

    async def run(
        self,
        count: int,
        make: Callable[[int], Awaitable[Any]],
        gap: float = 0.0,
        until: asyncio.Event | None = None,
    ) -> Result:
        """`count` calls of `make` over all clients (each waiting `gap` s between its calls), or
        as many as fit before `until` is set."""
        latencies: list[float] = []
        queue = iter(range(count))

        async def worker() -> None:
            for index in queue:
                if until is not None and until.is_set():
                    return
                started = time.perf_counter()
                await make(index)
                latencies.append(time.perf_counter() - started)
                if gap:
                    await asyncio.sleep(gap)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return Result(len(latencies), time.perf_counter() - started, latencies)


_wrk_files = itertools.count()


@dataclass
class WrkLoad:
    """What wrk is to send: `method` to `paths` of `server` in turn (with `body`), over
    `connections`, each waiting `pause_ms` after an answer before its next request."""

    server: Any
    paths: list[str]
    method: str = "GET"
    body: bytes | None = None
    connections: int = THROUGHPUT_CONNECTIONS
    pause_ms: int = 0

    def command(self, workdir: Path, seconds: int) -> list[str]:
        """The wrk command that sends this load for `seconds` (or until interrupted)."""
        root = urlsplit(self.server.url).path
        files = workdir / f"wrk-{next(_wrk_files)}"  # its own: several may run at once
        files.mkdir()
        script, body, paths = files / "wrk.lua", files / "body", files / "paths"
        script.write_text(WRK_SCRIPT)
        body.write_bytes(self.body or b"")
        paths.write_text("".join(f"{root}{path}\n" for path in self.paths))
        return [
            _wrk(),
            "--threads=1",
            f"--connections={self.connections}",
            f"--duration={seconds}s",
            # wrk's own default (2 s) counts a post queued behind a busy machine as a failure;
            # the server's post deadline is 30 s
            "--timeout=10s",
            f"--header=Authorization: token {self.server.token}",
            f"--script={script}",
            self.server.url,
            "--",
            self.method,
            str(body) if self.body is not None else "",
            str(paths),
            str(self.pause_ms),
        ]

    def rate(self, output: str) -> float:
        """Requests per second from wrk's `output`. Any answer other than 2xx or 3xx, or any
        socket error (a request unanswered for 10 s included), fails the run."""
        failed = re.findall(r"(Non-2xx or 3xx responses|Socket errors): (.*)", output)
        rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
        if failed or rate is None:
            raise RuntimeError(f"wrk {self.method} {self.paths[0]}: {failed or output}")
        return float(rate.group(1))


def wrk_rate(load: WrkLoad, workdir: Path) -> float:
    """Requests per second that wrk gets out of the server in one second of `load`."""
    command = load.command(workdir, seconds=1)
    return load.rate(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


@contextlib.contextmanager
def wrk_running(load: WrkLoad, workdir: Path) -> Iterator[list[float]]:
    """`load` sent by wrk in the background for the duration; the list yielded holds its
    requests per second afterwards."""
    wrk = subprocess.Popen(load.command(workdir, seconds=600), stdout=subprocess.PIPE, text=True)
    rate: list[float] = []
    try:
        time.sleep(0.5)  # its connections are open and busy
        yield rate
    finally:
        wrk.send_signal(signal.SIGINT)  # wrk stops and reports
        output, _ = wrk.communicate()
    rate.append(load.rate(output))


def _wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        sys.exit("benchmarks/run.py drives its throughput rows with wrk: apt-get install wrk")
    return found


@dataclass
class Row:
    what: str
    measured: str
    ratio: float
    # the ratio must be at least this when `at_least`, else at most; None: shown for reference
    goal: float | None
    at_least: bool = False

    @property
    def met(self) -> bool:
        if self.goal is None:
            return True
        return self.ratio >= self.goal if self.at_least else self.ratio <= self.goal

    def line(self) -> str:
        if self.goal is None:
            return f"| {self.what} | {self.measured} | {self.ratio:.2f} | (none) | (reference) |"
        goal = f"{'>=' if self.at_least else '<='} {self.goal:g}"
        met = "yes" if self.met else "**no**"
        return f"| {self.what} | {self.measured} | {self.ratio:.2f} | {goal} | {met} |"


def json_loads_elsewhere(body: bytes, times: int, workdir: Path) -> float:
    """The median time of `json.loads(body)` in a plain Python process (the garbage collector
    on), in ms."""
    path = workdir / "json-loads-body"
    path.write_bytes(body)
    command = [sys.executable, "-I", "-c", JSON_LOADS, str(path), str(times)]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


async def post(load: Load, body: bytes, route: str = "blocks/api/grids") -> str:
    """Post a grid; its id."""
    response = await load.fetch(route, "POST", body)
    answer = json.loads(response.body)
    return str(answer.get("id") or answer["url"].rsplit("/", 1)[1])


class Bench:
    """The rows of one profile on one database. `server` reads the database every time
    (`cache_seconds=0`): the goal rows are its; `cached` is the same server as configured."""

    def __init__(
        self,
        profile: Profile,
        server: Any,
        cached: Any,
        db_url: str,
        requests: int,
        large_table: int,
        workdir: Path,
        only: frozenset[str],
    ) -> None:
        self.profile, self.server, self.cached, self.db_url = profile, server, cached, db_url
        self.workdir = workdir
        self.requests, self.large_table, self.only = requests, large_table, only
        self.engine = create_engine(db_url, pool_size=1)
        self.rows: list[Row] = []
        self.rounds = THROUGHPUT_ROUNDS

    def load(self, concurrency: int, server: Any = None) -> Load:
        return Load(server or self.server, concurrency)

    def status(self, load: Load) -> Callable[[int], Awaitable[Any]]:
        return lambda _: load.fetch("api/status")

    # -- bulk fills, straight into the database ------------------------------------------------
    def fill(self, total: int, template_id: int) -> None:
        """Copy grid `template_id` until the table holds `total` grids, in one SQL statement,
        each copy by one of AUTHORS authors in turn."""
        with self.engine.begin() as connection:
            have = connection.scalar(sa.text("SELECT count(*) FROM grids"))
            missing = total - have
            if missing <= 0:
                return
            columns = [
                c["name"] for c in sa.inspect(connection).get_columns("grids") if c["name"] != "id"
            ]
            names = ", ".join(columns)
            values = ", ".join(
                f"'student-' || (n % {AUTHORS})" if name == "author" else name for name in columns
            )
            if self.engine.dialect.name == "postgresql":
                sql = (
                    f"INSERT INTO grids ({names}) SELECT {values} FROM grids "
                    "CROSS JOIN generate_series(1, :missing) AS seq(n) WHERE grids.id = :template"
                )
            else:
                sql = (
                    "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq "
                    f"WHERE n < :missing) INSERT INTO grids ({names}) SELECT {values} "
                    "FROM grids, seq WHERE grids.id = :template"
                )
            connection.execute(sa.text(sql), {"missing": missing, "template": template_id})
        # as a database that grew over time would be: statistics and visibility map up to date
        with self.engine.connect() as connection:
            vacuum = "VACUUM ANALYZE" if self.engine.dialect.name == "postgresql" else "ANALYZE"
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text(vacuum))

    def grid_ids(self) -> GridIds:
        with self.engine.connect() as connection:
            salt = connection.scalar(
                sa.text("SELECT value FROM instance_settings WHERE key = 'hashids_salt'")
            )
        return GridIds(salt)

    # -- the rows of the table -----------------------------------------------------------------
    async def table_size_rows(self, ids: GridIds, deep_row_id: int) -> dict[str, float]:
        """p50 of random and of listing pages at the table's current size, each as a multiple of
        `api/status`'s p50 measured in between (the machine's load comes and goes between the
        two sizes), on the server that reads the database every time."""
        one = self.load(1)
        cursor = ids.public(deep_row_id)
        paths = {
            "status": "api/status",
            "random": "blocks/random",
            "first": "blocks/api/grids?limit=24",
            "deep": f"blocks/api/grids?limit=24&cursor={cursor}",
            "author": f"blocks/api/grids?limit=24&author={AUTHOR}",
        }
        latencies: dict[str, list[float]] = {name: [] for name in paths}
        for round_ in range(max(self.requests // 4, 50) + 10):
            for name, path in paths.items():
                started = time.perf_counter()
                await one.fetch(path)
                if round_ >= 10:  # the first rounds warm the database's caches up
                    latencies[name].append(time.perf_counter() - started)
        p50 = {name: p(values, 50) for name, values in latencies.items()}
        return {name: value / p50["status"] for name, value in p50.items()} | {
            f"{name}_ms": value for name, value in p50.items()
        }

    def throughput(
        self,
        what: str,
        goal: float | None,
        paths: list[str],
        method: str = "GET",
        body: bytes | None = None,
        server: Any = None,
        during: WrkLoad | None = None,
    ) -> None:
        """Requests per second of `method` to `paths` in turn / of the same server's
        `api/status`, measured by wrk in alternating rounds so that both see the same machine:
        the ratio is the median of the rounds' ratios (other work on the machine comes and goes
        in bursts shorter than a run). With `during`, wrk sends that load all along."""
        server = server or self.server
        ratios, rates, baseline_rates = [], [], []
        with (
            wrk_running(during, self.workdir) if during else contextlib.nullcontext([]) as meanwhile
        ):
            for _ in range(THROUGHPUT_ROUNDS):
                baseline_rates.append(wrk_rate(WrkLoad(server, ["api/status"]), self.workdir))
                rates.append(wrk_rate(WrkLoad(server, paths, method, body), self.workdir))
                ratios.append(rates[-1] / baseline_rates[-1])
        measured = f"{statistics.mean(rates):.0f} / {statistics.mean(baseline_rates):.0f} req/s"
        if meanwhile:
            measured += f"; {meanwhile[0]:.0f} posts/s"
        self.rows.append(
            Row(
                f"{what}, throughput / `GET api/status` throughput of the same server "
                f"({THROUGHPUT_CONNECTIONS} connections"
                f"{', both while the same posts arrive' if during else ''})",
                measured,
                statistics.median(ratios),
                goal,
                at_least=True,
            )
        )

    def read_rows(self, group: str, read_ids: list[str], goal: float | None) -> None:
        """A read's row with the cache off (over READ_GRIDS grids) and, beside it, the same read
        of HOT_GRIDS grids on the server as configured."""
        what, path = {
            "get": ("`GET blocks/get/<id>` 10x10", "blocks/get/{}"),
            "listing": (
                "`GET blocks/api/grids?limit=24&cursor=<id>`",
                "blocks/api/grids?limit=24&cursor={}",
            ),
            "page": ("`GET blocks/<id>` page 10x10", "blocks/{}"),
            "thumbnail": (
                "`GET blocks/api/grids/<id>/thumbnail.svg` 10x10",
                "blocks/api/grids/{}/thumbnail.svg",
            ),
        }[group]
        kinds = "cursors" if group == "listing" else "grids"
        self.throughput(
            f"{what}, uncached (`cache_seconds=0`), {len(read_ids):,} {kinds} in turn",
            goal,
            [path.format(grid_id) for grid_id in read_ids],
        )
        if group != "thumbnail":  # a grid's own data: kept as long as the rest
            self.throughput(
                f"{what} (cached: `cache_seconds={self.cache_seconds}`, {HOT_GRIDS} {kinds} in "
                "turn)",
                None,
                [path.format(grid_id) for grid_id in read_ids[:HOT_GRIDS]],
                server=self.cached,
            )

    @property
    def cache_seconds(self) -> str:
        for setting in reversed(self.profile.settings):
            if setting.startswith("--BlocksApp.cache_seconds="):
                return setting.split("=", 1)[1]
        from jupyter_blocks.app import BlocksApp

        return f"{BlocksApp.class_traits()['cache_seconds'].default_value:g}"

    def reads_while_posts_arrive(self, read_ids: list[str], small: bytes) -> None:
        def arriving(server: Any) -> WrkLoad:
            return WrkLoad(
                server, ["blocks/post"], "POST", small, ARRIVING_CLIENTS, ARRIVING_PAUSE_MS
            )

        posts = (
            f"while {ARRIVING_CLIENTS} clients post 10x10 grids (each pausing "
            f"{ARRIVING_PAUSE_MS} ms after each answer)"
        )
        self.throughput(
            f"`GET blocks/get/<id>` 10x10, uncached (`cache_seconds=0`), {len(read_ids):,} grids "
            f"in turn, {posts}",
            None,
            [f"blocks/get/{grid_id}" for grid_id in read_ids],
            during=arriving(self.server),
        )
        self.throughput(
            f"`GET blocks/<id>` page 10x10 (cached: `cache_seconds={self.cache_seconds}`, "
            f"{HOT_GRIDS} grids in turn), {posts}: every post clears the cached pages",
            None,
            [f"blocks/{grid_id}" for grid_id in read_ids[:HOT_GRIDS]],
            server=self.cached,
            during=arriving(self.cached),
        )

    async def status_under(self, what: str, goal: float, body: bytes, clients: int) -> None:
        """p99 of `api/status` while `clients` post `body` / while as many clients make as
        many cheap requests (at the same rate), in LATENCY_ROUNDS alternating rounds: the row
        shows the round of the median ratio (a p99 of a few seconds is at the mercy of one
        burst of other work on the machine, as the throughputs are). The clients are wrk's, so
        that the probe, alone in this process, is never held up by their work here."""
        rounds = []
        for _ in range(LATENCY_ROUNDS):
            posting = WrkLoad(self.server, ["blocks/post"], "POST", body, clients)
            posts_per_second, loaded = await self._probe_during(posting)
            # each connection pausing so that all make cheap requests at the posts' pace
            pause_ms = max(round(clients / posts_per_second * 1000) - 1, 0)
            cheap = WrkLoad(self.server, ["api/status"], connections=clients, pause_ms=pause_ms)
            cheap_per_second, calm = await self._probe_during(cheap)
            rounds.append((loaded, calm, posts_per_second, cheap_per_second))
        rounds.sort(key=lambda measured: measured[0].p99 / measured[1].p99)
        loaded, calm, posts_per_second, cheap_per_second = rounds[len(rounds) // 2]
        self.rows.append(
            Row(
                f"`api/status` p99 while {clients} clients post {what} / under as many clients "
                f"of cheap requests at the same rate (the median of {LATENCY_ROUNDS} rounds)",
                f"{loaded.p99:.1f} / {calm.p99:.1f} ms (p50 {loaded.p50:.1f} / {calm.p50:.1f}; "
                f"max {max(loaded.latencies) * 1000:.0f} / {max(calm.latencies) * 1000:.0f}; "
                f"{posts_per_second:.0f} posts / {cheap_per_second:.0f} cheap requests a second)",
                loaded.p99 / calm.p99,
                goal,
            )
        )

    async def _probe_during(self, load: WrkLoad) -> tuple[float, Result]:
        """Requests per second of `load`, and `api/status` probed one at a time meanwhile."""
        probe = self.load(1)
        wrk = await asyncio.create_subprocess_exec(
            *load.command(self.workdir, seconds=60), stdout=subprocess.PIPE
        )
        await asyncio.sleep(0.5)  # its connections are open and busy
        probed = await probe.run(400, self.status(probe), gap=0.005)
        wrk.send_signal(signal.SIGINT)  # wrk stops and reports
        output, _ = await wrk.communicate()
        return load.rate(output.decode()), probed

    async def status_during_largest_pages(self) -> None:
        """p99 of `api/status` while another process views the pages of grids as big as a grid and
        its code may be (each page, then the pixels its canvas is drawn from; each grid first
        before its code is highlighted and cached) / while it views as many pages of 10x10
        grids. The viewer is another process, so that reading pages does not delay this one's
        probe, and the same in both, so that both probes share the machine with it alike."""
        probe = self.load(1)
        largest = payload(500, 500, [SLOW_TO_HIGHLIGHT] * 200)
        small = [await post(probe, payload(10, 10)) for _ in range(3)]
        big = [await post(probe, largest) for _ in range(3)]

        async def status_while_viewing(grid_ids: list[str]) -> Result:
            paths = [f"blocks/{grid_id}" for grid_id in grid_ids] * PAGE_VIEWS
            viewer = await asyncio.create_subprocess_exec(
                sys.executable, "-c", VIEWER, self.server.url, self.server.token, *paths
            )
            stop = asyncio.Event()
            probing = asyncio.ensure_future(probe.run(100_000, self.status(probe), 0.005, stop))
            if await viewer.wait() != 0:
                raise RuntimeError("the page viewer failed")
            stop.set()
            return await probing

        calm = await status_while_viewing(small)
        loaded = await status_while_viewing(big)
        self.rows.append(
            Row(
                "`api/status` p99 while another process views pages of the largest grid and code "
                f"(500x500, 200 cells of 100,000 characters; {3 * PAGE_VIEWS} views, each grid "
                "first before its code was cached) / while it views as many 10x10 pages "
                "(issue 13)",
                f"{loaded.p99:.1f} / {calm.p99:.1f} ms (max {max(loaded.latencies) * 1000:.1f} "
                f"/ {max(calm.latencies) * 1000:.1f}; p50 {loaded.p50:.1f} / {calm.p50:.1f})",
                loaded.p99 / calm.p99,
                2,
            )
        )

    async def rss_growth(self, grid_id: str) -> None:
        """Peak growth of the server's resident memory while 6 clients view a 250,000-block grid
        (its page, its record and its data) at once."""
        pid = self.server.process.pid

        def rss_mb() -> float:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
            return 0.0

        load = self.load(6)
        paths = [f"blocks/{grid_id}", f"blocks/api/grids/{grid_id}", f"blocks/get/{grid_id}"]
        await load.run(6, lambda i: load.fetch(paths[i % 3]))  # first use allocates pools
        await asyncio.sleep(0.5)
        before, peak = rss_mb(), 0.0
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_mb())
                await asyncio.sleep(0.01)

        sampler = asyncio.ensure_future(sample())
        await load.run(36, lambda i: load.fetch(paths[i % 3]))
        done.set()
        await sampler
        self.rows.append(
            Row(
                "server RSS growth, 6 concurrent views (page, record, data) of a 250,000-block "
                "grid, MB / 60 MB",
                f"{before:.0f} MB -> peak {peak:.0f} MB",
                (peak - before) / 60,
                1.0,
            )
        )

    async def measure(self) -> list[Row]:
        only = self.only & self.profile.groups
        for server in {id(s): s for s in (self.server, self.cached)}.values():
            load = self.load(16, server)
            await load.run(100, self.status(load))  # warm-up
        load = self.load(16)
        small, p30, p200, p500 = (
            payload(10, 10),
            payload(30, 30),
            payload(200, 200),
            payload(500, 500),
        )

        # Table-size rows, first half: a table of SMALL_TABLE grids.
        one_block = await post(load, payload(1, 1))
        # One page view on each server before any concurrent one: the first loads the code
        # highlighter, which is not what the rows measure (and two first views at once could
        # race in Pygments' import of itself, which answered a 500).
        for server in {id(s): s for s in (self.server, self.cached)}.values():
            await self.load(1, server).fetch(f"blocks/{one_block}")
        ids = self.grid_ids()
        template = ids.decode(one_block).row_id  # type: ignore[union-attr]
        self.fill(SMALL_TABLE, template)
        if "scale" in only:
            at_small = await self.table_size_rows(ids, deep_row_id=template + 20)

        # Different grids to read, each once in turn: without a cache each read is the
        # database's, and no two reads in a row ask for the same rows.
        read_ids: list[str] = []
        if only & {"get", "listing", "page", "thumbnail", "under-posts", "big-page"}:
            bodies = [payload(10, 10, seed=seed) for seed in range(READ_GRIDS)]
            posting = await load.run(READ_GRIDS, lambda i: post(load, bodies[i]))
            assert posting.requests == READ_GRIDS
            read_ids = await self.newest(READ_GRIDS)

        if "post" in only:
            self.throughput(
                "`POST blocks/post` 10x10", self.profile.post_goal, ["blocks/post"], "POST", small
            )
        for group, goal in (("get", 0.6), ("listing", 0.5), ("page", 0.5), ("thumbnail", 0.5)):
            if group in only:
                self.read_rows(group, read_ids, goal)
        if "under-posts" in only:
            self.reads_while_posts_arrive(read_ids, small)

        one = self.load(1)
        big_posts = ((p200, "200x200", 2, 15), (p500, "500x500", 3, 5))
        for body, size, goal, times in big_posts if "big-posts" in only else ():
            posts = await one.run(times, lambda _, body=body: post(one, body, "blocks/post"))
            loads = json_loads_elsewhere(body, times, self.workdir)
            self.rows.append(
                Row(
                    f"`POST blocks/post` {size} ({len(body) / 1e6:.1f} MB body), one client, p50 "
                    "/ `json.loads` of the same body in a plain Python process (gc on)",
                    f"{posts.p50:.0f} / {loads:.0f} ms",
                    posts.p50 / loads,
                    goal,
                )
            )

        big_id = await post(one, p500) if {"big-page", "rss"} & only else ""
        if "big-page" in only:
            await self.big_page_rows(big_id, read_ids)
        if "status-under" in only:
            await self.status_under("30x30 grids", 2, p30, 4)
            await self.status_under("200x200 grids", 3, p200, 8)
        if "rss" in only:
            await self.rss_growth(big_id)
        if "largest-pages" in only:
            await self.status_during_largest_pages()
        if "scale" in only:
            await self.scale_rows(ids, template, at_small)
        self.engine.dispose()
        return self.rows

    async def newest(self, count: int) -> list[str]:
        """The ids of the `count` newest public grids, newest first, as listings show them."""
        one, found, cursor = self.load(1), [], ""
        while len(found) < count:
            page = json.loads((await one.fetch(f"blocks/api/grids?limit=100{cursor}")).body)
            found += [item["id"] for item in page["items"]]
            cursor = f"&cursor={page['next']}"
        return found[:count]

    async def big_page_rows(self, big_id: str, read_ids: list[str]) -> None:
        one = self.load(1)
        big_page = await one.fetch(f"blocks/{big_id}")
        self.rows.append(
            Row(
                "500x500 HTML page size / 1 MB",
                f"{len(big_page.body) / 1e6:.2f} MB",
                len(big_page.body) / 1e6,
                1.0,
            )
        )

        async def page_and_pixels(_: int) -> None:
            await one.fetch(f"blocks/{big_id}")
            await one.fetch(f"blocks/api/grids/{big_id}/pixels")

        small_pages = await one.run(15, lambda i: one.fetch(f"blocks/{read_ids[i]}"))
        big_pages = await one.run(15, lambda _: one.fetch(f"blocks/{big_id}"))
        drawn = await one.run(15, page_and_pixels)
        both = "one client, both uncached (`cache_seconds=0`)"
        self.rows += [
            Row(
                f"`GET blocks/<id>` page 500x500 p50 / a 10x10 page's p50, {both}",
                f"{big_pages.p50:.1f} / {small_pages.p50:.1f} ms",
                big_pages.p50 / small_pages.p50,
                3,
            ),
            Row(
                "`GET blocks/<id>` page 500x500 and then the packed pixels its canvas is drawn "
                f"from (0.4 MB), p50 / a 10x10 page's p50, {both} (stricter than issue 10's "
                "row)",
                f"{drawn.p50:.1f} / {small_pages.p50:.1f} ms",
                drawn.p50 / small_pages.p50,
                3,
            ),
        ]

    async def scale_rows(self, ids: GridIds, template: int, at_small: dict[str, float]) -> None:
        """The table-size rows, second half: the same requests on a big table."""
        self.fill(self.large_table, template)
        at_large = await self.table_size_rows(ids, deep_row_id=template + 20)
        scale = f"{self.large_table:,}"
        for key, what in (
            ("random", "`GET blocks/random`"),
            ("first", "`GET blocks/api/grids?limit=24` (first page)"),
            ("deep", "`GET blocks/api/grids?limit=24&cursor=<id>` (a deep cursor)"),
            ("author", f"`GET blocks/api/grids?limit=24&author=<one of {AUTHORS}>`"),
        ):
            self.rows.append(
                Row(
                    f"{what} p50 at {scale} grids / at {SMALL_TABLE:,}, uncached (each over "
                    "`api/status`'s p50 measured alongside)",
                    f"{at_large[key + '_ms']:.1f} / {at_small[key + '_ms']:.1f} ms "
                    f"(`api/status` {at_large['status_ms']:.1f} / {at_small['status_ms']:.1f})",
                    at_large[key] / at_small[key],
                    1.2,
                )
            )


def footprint_rows() -> list[Row]:
    """benchmarks/footprint.py's rows, measured in a process of its own (see there why)."""
    output = subprocess.run(
        [sys.executable, str(HERE / "footprint.py"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        Row(row["what"], row["measured"], row["ratio"], row["goal"]) for row in json.loads(output)
    ]


def live_rows(database: str) -> list[Row]:
    """benchmarks/live.py's class-scale rows (issue 22) on `database`, measured in a process of
    its own (its subscribers, students and prober are its own processes' work; on PostgreSQL it
    starts a throwaway server of its own)."""
    output = subprocess.run(
        [sys.executable, str(HERE / "live.py"), "--json"]
        + (["--postgresql"] if database == "PostgreSQL" else []),
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    return [
        Row(row["what"], row["measured"], row["ratio"], row["goal"]) for row in json.loads(output)
    ]


def table(title: str, rows: list[Row]) -> list[str]:
    return [
        f"## {title}",
        "",
        "| what | measured | ratio | goal | met |",
        "|---|---|---|---|---|",
        *(row.line() for row in rows),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--requests", type=int, default=1600, help="of each kind in the table-size rows, x4"
    )
    parser.add_argument("--scale", action="store_true", help="table-size rows at 1,000,000 grids")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument(
        "--rounds", type=int, default=THROUGHPUT_ROUNDS, help="of each throughput row"
    )
    parser.add_argument("--no-postgresql", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-gallery", action="store_true", help="no class gallery rows")
    parser.add_argument("--no-personal", action="store_true", help="no personal server rows")
    parser.add_argument(
        "--only",
        type=lambda names: frozenset(names.split(",")),
        default=frozenset(SCENARIOS),
        help=f"comma-separated groups of rows to measure, of: {','.join(SCENARIOS)}",
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    if args.only - set(SCENARIOS):
        parser.error(f"--only: unknown {','.join(sorted(args.only - set(SCENARIOS)))}")
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
    large_table = 1_000_000 if args.scale else 100_000
    sections, missed = [], 0
    ARTIFACTS.mkdir(exist_ok=True)  # the servers' logs
    started, load_before = time.monotonic(), os.getloadavg()[1]
    skipped = {"gallery": args.no_gallery, "personal": args.no_personal}
    databases = {
        "SQLite": not args.no_sqlite,
        "PostgreSQL": not args.no_postgresql and _binaries() is not None,
    }
    with tempfile.TemporaryDirectory(prefix="jupyter-blocks-bench-") as tmp:
        workdir = Path(tmp)
        for profile in profiles():
            if skipped[profile.name] or not args.only & profile.groups:
                continue
            for database in profile.databases:
                if not databases[database]:
                    continue
                title = f"{profile.title[0].upper()}{profile.title[1:]}, {database}"
                rows = measure(profile, database, workdir, args, large_table)
                missed += sum(not row.met for row in rows)
                sections += table(title, rows)
                print("\n".join(table(title, rows)), flush=True)
    if "footprint" in args.only:
        rows = footprint_rows()
        missed += sum(not row.met for row in rows)
        title = "Footprint of a personal server as installed (benchmarks/footprint.py)"
        sections += table(title, rows)
        print("\n".join(table(title, rows)), flush=True)
    if "live" in args.only and not args.no_gallery:
        for database, wanted in databases.items():
            if not wanted:
                continue
            rows = live_rows(database)
            missed += sum(not row.met for row in rows)
            title = f"Live gallery at class scale, {database} (benchmarks/live.py)"
            sections += table(title, rows)
            print("\n".join(table(title, rows)), flush=True)
    header = [
        "# Benchmark results",
        "",
        f"Command: `{command.strip()}` ({time.monotonic() - started:.0f} s)",
        "",
        (
            f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}; the load generators share the machine with the "
            "servers, and so does other work: the load average over 5 minutes was "
            f"{load_before:.1f} at the start and {os.getloadavg()[1]:.1f} at the end. Goals "
            "from issues 10, 13, 20 and 22; every ratio is to a figure measured in the same run. "
            "Throughputs are wrk's, over "
            f"{THROUGHPUT_CONNECTIONS} connections, in {args.rounds} rounds of one second "
            "alternating with as many of the same server's `api/status`: a throughput ratio is "
            "the median of the rounds' ratios, the rates shown are their means. Rows marked "
            "uncached are measured on a server with `cache_seconds=0`, rows marked cached on "
            "the same settings with the read cache on; the other rows on the uncached one. "
            "How the profiles' servers are set up: README.md. The panel's open time is measured "
            "by the browser tests, not here: see PANEL.md."
        ),
        "",
    ]
    summary = [f"Goals missed: {missed}.", ""]
    args.output.write_text("\n".join(header + summary + sections))
    print(f"wrote {args.output}; goals missed: {missed}")
    if args.check and missed:
        sys.exit(1)


def measure(
    profile: Profile, database: str, workdir: Path, args: Any, large_table: int
) -> list[Row]:
    """The rows of `profile` on a fresh `database`."""
    label = f"{profile.name}-{database}"
    only = args.only & profile.groups
    with contextlib.ExitStack() as servers:
        if database == "SQLite":
            db_url = f"sqlite:///{workdir}/{label}.sqlite"
        else:
            db_url = servers.enter_context(_postgres_database())
        uncached_settings = (*profile.settings, "--BlocksApp.cache_seconds=0")
        server = servers.enter_context(jupyter_server(db_url, workdir, label, uncached_settings))
        cached = (
            servers.enter_context(
                jupyter_server(db_url, workdir, f"{label}-cached", profile.settings)
            )
            if only & {"get", "listing", "page", "under-posts"}
            else server
        )
        bench = Bench(profile, server, cached, db_url, args.requests, large_table, workdir, only)
        bench.rounds = args.rounds
        return asyncio.run(bench.measure())


@contextlib.contextmanager
def _postgres_database() -> Iterator[str]:
    with running_postgres() as server:
        import psycopg

        with psycopg.connect(server.replace("+psycopg", "") + "/postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE blocks_bench")
        yield f"{server}/blocks_bench"


if __name__ == "__main__":
    main()

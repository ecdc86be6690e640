"""Several `jupyter blocks serve` replicas as one external JupyterHub service (issue 21, point 4).

As the README's replica recipe has it: a real JupyterHub (5; 6 passes too) whose service
`blocks` is external (its `url` is an HAProxy frontend, no `command`: the Hub starts nothing),
HAProxy balancing round-robin over two replicas with health checks, each replica with its own
runtime directory and port, started at the same moment on one fresh, empty PostgreSQL database,
and sharing the cookie secret (`JUPYTER_BLOCKS_COOKIE_SECRET`) and nothing else. Users reach the
replicas through the Hub's proxy; a test may also call one replica on its own port, to choose
which one answers. HAProxy names the replica that answered in an `X-Blocks-Replica` header.
With `pytest -n`, tests/conftest.py keeps the module on one worker (its xdist group).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from websocket import WebSocket, create_connection

from jupyter_blocks import db
from tests import gallery_hub, hubs
from tests.postgres import fresh_database
from tests.utils import free_port, grid_payload, wait_until

SERVICE = gallery_hub.SERVICE
PREFIX = f"/services/{SERVICE}/"
REPLICA_HEADER = "X-Blocks-Replica"
MODERATORS = "blocks-moderators"
# What HAProxy probes: jupyter_server's version endpoint, which answers without credentials.
HEALTH_PATH = f"{PREFIX}api"
HEALTH_INTERVAL_MS = 500
START_TIMEOUT = 120
# The load while a replica is killed: bounded, on a two-core machine shared with other tests.
LOAD_CLIENTS = 8
LOAD_SECONDS = 10.0
KILL_AFTER_SECONDS = 3.0
RETRIES = 30


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.access(found, os.X_OK):
        pytest.fail("HAProxy is not installed: `apt-get install haproxy` (.ci/test does)")
    return found


HAPROXY_CONFIG = """
global
    maxconn 512
    stats socket {home}/haproxy.sock mode 600 level admin

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    # a replica that refuses the connection: try again, the last time on another replica
    retries 2
    option redispatch

frontend gallery
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET {health_path}
    http-check expect status 200
    default-server check inter {interval}ms fall 2 rise 2
    http-response set-header {header} %s
{servers}
"""


@dataclass
class Replica:
    """One `jupyter blocks serve` process (and its post workers: its process group)."""

    name: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}blocks/{path}"

    def answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"replica {self.name} exited: {self.log_text()[-3000:]}")
        return requests.get(f"http://127.0.0.1:{self.port}{HEALTH_PATH}", timeout=2).ok

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole replica at once, as when its pod or machine goes."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        # its post workers, should any outlive it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


@dataclass
class Deployment:
    hub: gallery_hub.Hub
    db_url: str
    home: Path
    environment: dict[str, str]
    haproxy_socket: Path
    replicas: dict[str, Replica] = field(default_factory=dict)
    started: list[Replica] = field(default_factory=list)

    def start_replica(self, name: str, port: int | None = None, **environment: str) -> Replica:
        """Start a replica (without waiting for it) on `port` (default: a free one), with its
        own runtime directory and log; `environment` added to the replicas' common one (an
        empty value takes a variable out)."""
        home = self.home / f"replica-{name}"
        (home / "runtime").mkdir(parents=True, exist_ok=True)
        env = {**self.environment, "JUPYTER_RUNTIME_DIR": str(home / "runtime"), **environment}
        port = port or free_port()
        log = home / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jupyter_blocks.cli",
                    "serve",
                    f"--ServerApp.port={port}",
                    "--ServerApp.port_retries=0",
                ],
                env={key: value for key, value in env.items() if value},
                cwd=home,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, with its post workers
            )
        replica = Replica(name, port, log, process)
        self.started.append(replica)
        return replica

    def gallery(self, path: str) -> str:
        """A URL of the gallery as users reach it: the Hub's proxy, then HAProxy."""
        return self.hub.gallery(path)

    def backend_status(self) -> dict[str, str]:
        """HAProxy's view of each replica: UP, DOWN, ... (its `show stat`)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.haproxy_socket))
            sock.sendall(b"show stat\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        lines = answer.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
        return {
            row["svname"]: row["status"]
            for row in rows
            if row["pxname"] == "replicas" and row["svname"] not in ("FRONTEND", "BACKEND")
        }


def _hub_users(hub: hubs.Hub, names: tuple[str, ...]) -> dict[str, str]:
    """Users made through the Hub's API (no servers spawned), a token each; `mod` moderates."""
    tokens = {}
    for name in names:
        made = hub.admin.post(f"{hub.url}hub/api/users/{name}", timeout=30)
        assert made.status_code == 201, made.text
        issued = hub.admin.post(
            f"{hub.url}hub/api/users/{name}/tokens", json={"note": "replicas"}, timeout=30
        )
        assert issued.status_code == 201, issued.text
        tokens[name] = issued.json()["token"]
    group = hub.admin.post(
        f"{hub.url}hub/api/groups/{MODERATORS}", json={"users": ["mod"]}, timeout=30
    )
    assert group.status_code == 201, group.text
    return tokens


def _external_service_config(db_url: str, balancer_url: str, hub_url: str, token: str) -> str:
    """What `jupyter blocks hub-config` prints for a service at the load balancer's URL, with its
    entry made external as the README says: no command or environment (the replicas run
    elsewhere and get theirs from their deployment), an API token of its own."""
    fragment = hubs.hub_config(
        db_url, "--url", balancer_url, "--name", SERVICE, "--public-url", hub_url
    )
    return f"""
c.Authenticator.allow_all = True
{fragment}
_blocks_service = next(s for s in c.JupyterHub.services if s["name"] == {SERVICE!r})
del _blocks_service["command"], _blocks_service["environment"]
_blocks_service["api_token"] = {token!r}
"""


@contextlib.contextmanager
def running_haproxy(home: Path, port: int, servers: dict[str, int]) -> Iterator[Path]:
    """HAProxy on 127.0.0.1:`port` in front of `servers` (name: port); its stats socket."""
    config = home / "haproxy.cfg"
    config.write_text(
        HAPROXY_CONFIG.format(
            home=home,
            port=port,
            health_path=HEALTH_PATH,
            interval=HEALTH_INTERVAL_MS,
            header=REPLICA_HEADER,
            servers="\n".join(
                f"    server {name} 127.0.0.1:{server_port}"
                for name, server_port in servers.items()
            ),
        )
    )
    binary = haproxy_binary()
    checked = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = (home / "haproxy.log").open("wb")
    # -db: in the foreground, a child of the test
    process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=log)
    try:
        wait_until(lambda: (home / "haproxy.sock").exists(), "HAProxy did not start", 30)
        yield home / "haproxy.sock"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: str
) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("replicas")
    db_url = fresh_database(postgres_server)  # empty: the replicas make the schema
    hub_port, balancer_port = free_port(), free_port()
    hub_url, balancer_url = f"http://127.0.0.1:{hub_port}/", f"http://127.0.0.1:{balancer_port}"
    service_token = secrets.token_hex(32)
    ports = {"a": free_port(), "b": free_port()}
    config = _external_service_config(db_url, balancer_url, hub_url, service_token)
    # What the Hub gives a managed service, given here as a deployment would give each replica.
    environment = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "JUPYTERHUB_SERVICE_NAME": SERVICE,
        "JUPYTERHUB_SERVICE_URL": balancer_url,
        "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
        "JUPYTERHUB_API_URL": f"{hub_url}hub/api",
        "JUPYTERHUB_API_TOKEN": service_token,
        "JUPYTERHUB_CLIENT_ID": f"service-{SERVICE}",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{PREFIX}oauth_callback",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTER_BLOCKS_DB_URL": db_url,
        "JUPYTER_BLOCKS_DB_POOL_SIZE": "5",
        "JUPYTER_BLOCKS_PUBLIC_URL": hub_url,
        "JUPYTER_BLOCKS_MODERATORS_GROUP": MODERATORS,
        "JUPYTER_BLOCKS_COOKIE_SECRET": secrets.token_hex(32),
    }
    with (
        running_haproxy(home, balancer_port, ports) as haproxy_socket,
        hubs.running_hub(home, (), config, port=hub_port) as running,
    ):
        tokens = _hub_users(running, ("alice", "bob", "mod"))
        hub = gallery_hub.Hub(running.url, running.admin, tokens, home, db_url, pid=running.pid)
        deployment = Deployment(hub, db_url, home, environment, haproxy_socket)
        try:
            # Both at one moment, on the empty database: the start-up migration race.
            for name, port in ports.items():
                deployment.replicas[name] = deployment.start_replica(name, port)
            for replica in deployment.replicas.values():
                wait_until(replica.answers, f"replica {replica.name} did not answer", START_TIMEOUT)
            wait_until(
                lambda: set(deployment.backend_status().values()) == {"UP"},
                "HAProxy did not see both replicas up",
                30,
            )
            yield deployment
        finally:
            for replica in deployment.started:
                replica.stop()


def replica_of(response: requests.Response) -> str:
    return response.headers[REPLICA_HEADER]


def query(db_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url.replace("+psycopg", "")) as conn:
        return conn.execute(sql, params).fetchall()


def test_replicas_started_at_one_moment_on_an_empty_database_migrate_it_once(
    deployment: Deployment,
) -> None:
    logs = {name: replica.log_text() for name, replica in deployment.replicas.items()}
    upgraded = [name for name, log in logs.items() if "jupyter-blocks: upgrading database" in log]
    assert len(upgraded) == 1, logs
    for name, log in logs.items():
        assert "Traceback" not in log and not re.search(r"^\[[EC] ", log, re.M), (name, log)
    assert query(deployment.db_url, "SELECT version_num FROM alembic_version") == [
        (db.HEAD_REVISION,)
    ]
    assert query(deployment.db_url, "SELECT key FROM instance_settings") == [("hashids_salt",)]
    # one salt: a grid posted through one replica has the same id on the other
    alice = deployment.hub.as_user("alice")
    a, b = deployment.replicas["a"], deployment.replicas["b"]
    posted = alice.post(a.url("api/grids"), json=grid_payload(1), timeout=30)
    assert posted.status_code == 201, posted.text
    read = alice.get(b.url(f"api/grids/{posted.json()['id']}"), timeout=30)
    assert read.status_code == 200 and read.json()["grid_data"] == grid_payload(1)["grid_data"]


def test_through_the_hub_both_replicas_serve_posts_pages_moderation_and_audit(
    deployment: Deployment,
) -> None:
    hub = deployment.hub
    alice, bob, mod = (hub.as_user(name) for name in ("alice", "bob", "mod"))
    posted = [
        alice.post(deployment.gallery("api/grids"), json=grid_payload(n), timeout=30)
        for n in range(4)
    ]
    assert [response.status_code for response in posted] == [201] * 4
    assert {replica_of(response) for response in posted} == {"a", "b"}  # round-robin
    ids = [response.json()["id"] for response in posted]
    # the ipythonblocks protocol: a page URL on the Hub
    legacy = alice.post(
        deployment.gallery("post"),
        data=json.dumps({k: v for k, v in grid_payload(7).items() if k != "title"}),
        timeout=30,
    )
    assert legacy.status_code == 200, legacy.text
    assert legacy.json()["url"].startswith(deployment.gallery(""))

    pages = [alice.get(deployment.gallery(grid_id), timeout=30) for grid_id in ids for _ in "ab"]
    assert all(page.status_code == 200 for page in pages)
    assert {replica_of(page) for page in pages} == {"a", "b"}
    assert grid_payload(0)["title"] in pages[0].text
    gallery = alice.get(deployment.gallery(""), timeout=30)
    assert gallery.status_code == 200 and "text/html" in gallery.headers["Content-Type"]
    listed = alice.get(deployment.gallery("api/grids"), params={"author": "alice"}, timeout=30)
    assert set(ids) <= {item["id"] for item in listed.json()["items"]}

    assert mod.get(deployment.gallery("api/me"), timeout=30).json() == {
        "author": "mod",
        "moderator": True,
    }
    victim = ids[0]
    assert bob.delete(deployment.gallery(f"api/grids/{victim}"), timeout=30).status_code == 403
    assert mod.delete(deployment.gallery(f"api/grids/{victim}"), timeout=30).status_code == 204
    deleted_at = time.monotonic()

    def gone() -> bool:
        return all(
            mod.get(replica.url(f"api/grids/{victim}"), timeout=30).status_code == 404
            for replica in deployment.replicas.values()
        )

    wait_until(gone, "a replica still served the deleted grid", 10)
    print(f"a deletion showed on both replicas after {time.monotonic() - deleted_at:.2f} s")

    audit = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_blocks.cli",
            "audit",
            "--db-url",
            deployment.db_url,
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (entry,) = [json.loads(line) for line in audit.splitlines()]
    assert entry["grid"] == victim and entry["author"] == "alice"
    assert entry["deleted_by"] == "mod" and entry["by_moderator"] is True


def _next_change(feed: WebSocket, kind: str, grid_id: str) -> bool:
    """Read `feed` until the change of `kind` ("posted", "deleted") to grid `grid_id` arrives:
    True; or until a hello, which tells a client to fetch afresh (the replica began listening
    for other replicas' changes only now, and may have missed some): False."""
    deadline = time.monotonic() + 20
    while (left := deadline - time.monotonic()) > 0:
        feed.settimeout(left)
        frame = json.loads(feed.recv())
        if frame["type"] == "hello":
            return False
        for event in frame["events"]:
            if event["kind"] == kind and (event.get("grid") or event)["id"] == grid_id:
                return True
    raise AssertionError(f"no {kind} change of {grid_id} arrived")


def test_a_change_through_one_replica_reaches_live_subscribers_of_the_other(
    deployment: Deployment,
) -> None:
    alice = deployment.hub.as_user("alice")
    authorization = f"Authorization: token {deployment.hub.tokens['alice']}"
    feeds = {
        name: create_connection(
            f"ws://127.0.0.1:{replica.port}{PREFIX}blocks/api/events",
            header=[authorization],
            timeout=30,
        )
        for name, replica in deployment.replicas.items()
    }

    def post(replica: str) -> str:
        posted = alice.post(deployment.replicas[replica].url("api/grids"), json=grid_payload(3))
        assert posted.status_code == 201, posted.text
        return str(posted.json()["id"])

    def heard(through: str, other: str) -> bool:
        return _next_change(feeds[other], "posted", post(through))

    try:
        for feed in feeds.values():
            assert json.loads(feed.recv())["type"] == "hello"
        # each replica listens for the other's changes from its first subscriber on: until it
        # does, a change made elsewhere reaches its subscribers as a hello (fetch afresh)
        for through, other in (("a", "b"), ("b", "a")):
            wait_until(
                partial(heard, through, other),
                f"replica {other} did not hear posts made through replica {through}",
                60,
            )
        for through, other in (("a", "b"), ("b", "a")):
            grid_id = post(through)
            assert _next_change(feeds[other], "posted", grid_id)
            assert _next_change(feeds[through], "posted", grid_id)
            deleted = alice.delete(deployment.replicas[other].url(f"api/grids/{grid_id}"))
            assert deleted.status_code == 204
            assert _next_change(feeds[through], "deleted", grid_id)
            assert _next_change(feeds[other], "deleted", grid_id)
    finally:
        for feed in feeds.values():
            feed.close()


def oauth_login(
    browser: requests.Session, hub_url: str, begin: Replica, finish: Replica
) -> requests.Response:
    """A browser logged in to the Hub opens the session page on replica `begin`; the OAuth
    redirects are followed by hand, the Hub's to the Hub and the service's (its callback and
    what follows) to replica `finish`. The last answer."""
    response = browser.get(begin.url("session"), allow_redirects=False, timeout=30)
    for _ in range(6):
        if not response.is_redirect:
            return response
        location = urlsplit(response.headers["Location"])
        target = location.path + (f"?{location.query}" if location.query else "")
        to_service = location.path.startswith(PREFIX)
        base = f"http://127.0.0.1:{finish.port}" if to_service else hub_url.rstrip("/")
        response = browser.get(base + target, allow_redirects=False, timeout=30)
    raise AssertionError(f"still redirected: {response.headers.get('Location')}")


def page_author(page: requests.Response) -> str | None:
    found = re.search(r'data-author="([^"]*)"', page.text)
    return found.group(1) if found else None


def test_a_login_through_one_replica_works_on_the_other_with_the_shared_cookie_secret(
    deployment: Deployment,
) -> None:
    hub = deployment.hub
    a, b = deployment.replicas["a"], deployment.replicas["b"]
    browser = hub.browser("alice")
    page = oauth_login(browser, hub.url, a, a)
    assert page.status_code == 200 and page_author(page) == "alice", page.text[:300]
    xsrf = re.search(r'data-xsrf-token="([^"]+)"', page.text)
    assert xsrf
    panel = {
        "X-XSRFToken": xsrf.group(1),
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": "same-origin",
    }

    # replica b takes the login cookie (and the XSRF token) replica a made
    on_b = browser.get(b.url("session"), allow_redirects=False, timeout=30)
    assert on_b.status_code == 200 and page_author(on_b) == "alice"
    me = browser.get(b.url("api/me"), headers=panel, timeout=30)
    assert me.status_code == 200 and me.json()["author"] == "alice"
    posted = browser.post(b.url("api/grids"), json=grid_payload(4), headers=panel, timeout=30)
    assert posted.status_code == 201 and posted.json()["author"] == "alice", posted.text
    forged = browser.post(b.url("api/grids"), json=grid_payload(4), timeout=30)
    assert forged.status_code == 403  # the cookie alone is not enough to write

    # a login begun on one replica and called back on the other
    crossed = oauth_login(hub.browser("bob"), hub.url, a, b)
    assert crossed.status_code == 200 and page_author(crossed) == "bob", crossed.url

    # through the Hub's proxy and HAProxy's round-robin, a browser's redirects land on both
    logins = []
    for _ in range(3):
        login = hub.browser("bob").get(deployment.gallery("session"), timeout=60)
        assert login.status_code == 200 and page_author(login) == "bob", login.text[:300]
        logins.append(
            {replica_of(hop) for hop in [*login.history, login] if REPLICA_HEADER in hop.headers}
        )
    assert {"a", "b"} in logins, logins

    # A replica started without the shared secret (each keeps a random one of its own)...
    lone = deployment.start_replica("without-secret", JUPYTER_BLOCKS_COOKIE_SECRET="")
    try:
        wait_until(lone.answers, "the replica without the secret did not answer", START_TIMEOUT)
        # ...refuses the login made through another replica: it starts the OAuth dance again
        refused = browser.get(lone.url("session"), allow_redirects=False, timeout=30)
        assert refused.is_redirect, refused.status_code
        assert "/hub/api/oauth2/authorize" in refused.headers["Location"]
        assert browser.get(lone.url("api/me"), headers=panel, timeout=30).status_code == 403
        # ...and a login begun on another replica fails at its callback there
        failed = oauth_login(hub.browser("bob"), hub.url, a, lone)
        assert failed.status_code == 403, (failed.status_code, failed.text[:300])
        # its own login works (the replica itself is fine)
        alone = oauth_login(hub.browser("bob"), hub.url, lone, lone)
        assert alone.status_code == 200 and page_author(alone) == "bob"
    finally:
        lone.stop()


@dataclass
class Load:
    """Posts made by clients that retry a failed post with its Idempotency-Key."""

    url: str
    token: str
    until: float
    acknowledged: dict[str, tuple[str, dict[str, Any], float, str]] = field(default_factory=dict)
    failures: list[tuple[str, str, float]] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, number: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"token {self.token}"
        count = 0
        while time.monotonic() < self.until:
            key = f"load-{number}-{count}-{secrets.token_hex(4)}"
            payload = grid_payload(number * 1000 + count, width=6, height=6, title=key)
            self.post(session, key, payload)
            count += 1

    def post(self, session: requests.Session, key: str, payload: dict[str, Any]) -> None:
        started = time.monotonic()
        for _ in range(RETRIES):
            try:
                response = session.post(
                    self.url, json=payload, headers={"Idempotency-Key": key}, timeout=30
                )
            except requests.RequestException as error:
                outcome = type(error).__name__
            else:
                if response.status_code == 201:
                    answered = time.monotonic()
                    with self.lock:
                        self.acknowledged[key] = (
                            response.json()["id"],
                            payload,
                            answered,
                            replica_of(response),
                        )
                        self.durations.append(answered - started)
                    return
                outcome = str(response.status_code)
            with self.lock:
                self.failures.append((key, outcome, time.monotonic()))
            time.sleep(0.2)
        with self.lock:
            self.gave_up.append(key)


def as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def test_a_replica_killed_mid_load_costs_no_acknowledged_post(deployment: Deployment) -> None:
    hub = deployment.hub
    b = deployment.replicas["b"]
    started = time.monotonic()
    load = Load(deployment.gallery("api/grids"), hub.tokens["alice"], started + LOAD_SECONDS)
    clients = [threading.Thread(target=load.client, args=(n,)) for n in range(LOAD_CLIENTS)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(KILL_AFTER_SECONDS)
        killed_at, killed_wall = time.monotonic(), datetime.now(timezone.utc)
        b.kill()
        wait_until(
            lambda: deployment.backend_status()["b"].startswith("DOWN"),
            "HAProxy did not take the killed replica out",
            30,
        )
        down_after = time.monotonic() - killed_at
    finally:
        for thread in clients:
            thread.join(timeout=LOAD_SECONDS + RETRIES * 30)

    acknowledged = load.acknowledged
    served = [replica for _, _, at, replica in acknowledged.values() if at < killed_at]
    assert "b" in served, "the killed replica served posts before it was killed"
    assert any(at > killed_at + down_after for _, _, at, _ in acknowledged.values())
    assert load.gave_up == [], load.failures[-5:]
    # every acknowledged post is stored, once, with what was posted
    rows = query(
        deployment.db_url,
        "SELECT idempotency_key, count(*) FROM grids WHERE idempotency_key LIKE 'load-%%' "
        "GROUP BY idempotency_key",
    )
    assert dict(rows) == dict.fromkeys(acknowledged, 1)
    reader = hub.as_user("alice")
    a = deployment.replicas["a"]
    for key, (grid_id, payload, _, _) in acknowledged.items():
        stored = reader.get(a.url(f"api/grids/{grid_id}"), timeout=30).json()
        assert stored["title"] == key and stored["grid_data"] == payload["grid_data"], key

    outcomes = Counter(outcome for _, outcome, _ in load.failures)
    retried = sorted({key for key, _, _ in load.failures})
    # which of the posts that failed had been stored by the killed replica before it died (the
    # retry answered with that grid) and which the retry stored
    created = dict(
        query(
            deployment.db_url,
            "SELECT idempotency_key, created_at FROM grids WHERE idempotency_key = ANY(%s)",
            retried,
        )
    )
    stored_before = sum(1 for key in retried if as_utc(created[key]) < killed_wall)
    print(
        f"{len(acknowledged)} posts acknowledged by {LOAD_CLIENTS} clients in {LOAD_SECONDS:g} s "
        f"(before the kill: {len(served)}, {served.count('b')} of them by the killed replica); "
        f"failed attempts: {dict(outcomes) or 'none'}; {len(retried)} posts retried with their "
        f"Idempotency-Key ({stored_before} had been stored before the kill, the retry got that "
        f"grid), each stored once; HAProxy took the replica out {down_after:.2f} s after the "
        f"kill; post time median {statistics.median(load.durations) * 1000:.0f} ms, "
        f"max {max(load.durations) * 1000:.0f} ms"
    )

    # the replica started again on its port is taken back in and serves
    again = deployment.start_replica("b-again", b.port)
    wait_until(again.answers, "the restarted replica did not answer", START_TIMEOUT)
    wait_until(lambda: deployment.backend_status()["b"] == "UP", "HAProxy did not take it back", 30)
    served_by = {replica_of(reader.get(deployment.gallery("api/me"), timeout=30)) for _ in range(4)}
    assert served_by == {"a", "b"}


@pytest.mark.parametrize("secret", ["abc", "not hex at all", "00" * 16])
def test_serve_refuses_a_cookie_secret_it_cannot_use(secret: str) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "jupyter_blocks.cli", "serve", "--ServerApp.port=1"],
        env={
            **os.environ,
            "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:1",
            "JUPYTERHUB_API_TOKEN": "token",
            "JUPYTER_BLOCKS_COOKIE_SECRET": secret,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "JUPYTER_BLOCKS_COOKIE_SECRET must be at least 32 random bytes" in refused.stderr
    assert "openssl rand -hex 32" in refused.stderr

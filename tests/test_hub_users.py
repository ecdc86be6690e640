"""Moderation asks the Hub, keeps what the Hub said for `CACHE_SECONDS`, and fails closed: when
the Hub cannot say who a user is and which groups they are in, they get no moderator rights, and
that failure is not kept. A Hub of our own over HTTP, and a clock the tests drive."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from jupyter_blocks.hub import users
from jupyter_blocks.hub.users import CACHE_SECONDS, WARNING_INTERVAL_SECONDS, HubUsers

TOKEN = "service-token"
MODERATOR = {"kind": "user", "name": "mod", "admin": False, "groups": ["blocks-moderators"]}
REMOVED = {**MODERATOR, "groups": []}
# What the identity provider kept from the request's token: it still says moderator.
REQUEST = SimpleNamespace(hub_user=dict(MODERATOR))


class FakeHub:
    """The Hub's `GET users/<name>`: answers `models`, or `status`/`body`, after `delay`."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {"mod": dict(MODERATOR)}
        self.status = 200
        self.body: bytes | None = None
        self.delay = 0.0
        self.asked = 0


class UserHandler(RequestHandler):
    def initialize(self, hub: FakeHub) -> None:
        self.hub = hub

    async def get(self, name: str) -> None:
        hub = self.hub
        hub.asked += 1
        assert self.request.headers["Authorization"] == f"token {TOKEN}"
        if hub.delay:
            await asyncio.sleep(hub.delay)
        self.set_status(hub.status)
        self.finish(hub.body if hub.body is not None else json.dumps(hub.models.get(name, {})))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def fake_hub() -> AsyncIterator[tuple[FakeHub, str]]:
    """A Hub's users API on a free port of this event loop: the fake, and its API URL."""
    fake = FakeHub()
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(Application([(r"/hub/api/users/([^/]+)", UserHandler, {"hub": fake})]))
    server.add_sockets(sockets)
    try:
        yield fake, f"http://127.0.0.1:{sockets[0].getsockname()[1]}/hub/api"
    finally:
        server.stop()
        await server.close_all_connections()


def hub_users(api_url: str, clock: Clock) -> HubUsers:
    identity_provider = SimpleNamespace(hub_auth=SimpleNamespace(api_url=api_url, api_token=TOKEN))
    return HubUsers(identity_provider, logging.getLogger("test-hub-users"), timer=clock)


async def test_what_the_hub_said_is_kept_for_the_cache_time_and_no_longer() -> None:
    clock = Clock()
    async with fake_hub() as (hub, api_url):
        looked_up = hub_users(api_url, clock)
        assert await looked_up.lookup(REQUEST) == MODERATOR
        hub.models["mod"] = dict(REMOVED)  # removed from the group on the Hub
        clock.now += CACHE_SECONDS - 1
        assert await looked_up.lookup(REQUEST) == MODERATOR
        clock.now += 2
        assert await looked_up.lookup(REQUEST) == REMOVED
    assert hub.asked == 2


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b"{}"),
        (503, b"gateway"),
        (403, b'{"message": "no read:users"}'),  # a token without the scope (a user's server)
        (404, b'{"message": "no such user"}'),
        (200, b"not json"),
        (200, b'{"kind": "user", "name": "mod", "admin": false}'),  # no groups said
        (200, json.dumps({**MODERATOR, "name": "someone-else"}).encode()),
        (200, b'["mod"]'),
    ],
    ids=["500", "503", "403", "404", "not-json", "no-groups", "another-user", "not-a-model"],
)
async def test_a_hub_that_cannot_say_gives_no_rights_and_is_asked_again(
    status: int, body: bytes
) -> None:
    async with fake_hub() as (hub, api_url):
        looked_up = hub_users(api_url, Clock())
        hub.status, hub.body = status, body
        # not the request's own model either, though it names the moderators group
        assert await looked_up.lookup(REQUEST) is None
        hub.status, hub.body = 200, None
        assert await looked_up.lookup(REQUEST) == MODERATOR  # at once: the failure was not kept
    assert hub.asked == 2


async def test_a_hub_that_does_not_answer_in_time_gives_no_rights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(users, "HUB_TIMEOUT_SECONDS", 0.2)
    async with fake_hub() as (hub, api_url):
        hub.delay = 1.0
        assert await hub_users(api_url, Clock()).lookup(REQUEST) is None


async def test_a_hub_that_is_gone_gives_no_rights() -> None:
    async with fake_hub() as (_, api_url):
        pass  # stopped: nothing listens there now
    assert await hub_users(api_url, Clock()).lookup(REQUEST) is None


async def test_requests_at_the_same_time_ask_the_hub_once() -> None:
    async with fake_hub() as (hub, api_url):
        hub.delay = 0.1
        looked_up = hub_users(api_url, Clock())
        answers = await asyncio.gather(*(looked_up.lookup(REQUEST) for _ in range(20)))
    assert answers == [MODERATOR] * 20
    assert hub.asked == 1


async def test_failures_are_warned_about_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    async with fake_hub() as (hub, api_url):
        looked_up = hub_users(api_url, clock)
        hub.status = 500
        with caplog.at_level(logging.WARNING, "test-hub-users"):
            for _ in range(5):
                assert await looked_up.lookup(REQUEST) is None
            clock.now += WARNING_INTERVAL_SECONDS
            assert await looked_up.lookup(REQUEST) is None
    warnings = [r.getMessage() for r in caplog.records if r.name == "test-hub-users"]
    assert len(warnings) == 2
    assert "no moderator rights" in warnings[0]
    assert "and 4 such failures since the last warning" in warnings[1]


async def test_off_a_hub_there_is_no_hub_user() -> None:
    off_hub = HubUsers(SimpleNamespace(), logging.getLogger("test-hub-users"))
    assert await off_hub.lookup(REQUEST) is None
    assert await off_hub.lookup(SimpleNamespace(name="someone")) is None


async def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users, "CACHE_USERS", 3)
    async with fake_hub() as (hub, api_url):
        hub.models = {f"user{n}": {**REMOVED, "name": f"user{n}"} for n in range(5)}
        looked_up = hub_users(api_url, Clock())
        for n in [0, 1, 2, 3, 4, 4]:
            await looked_up.lookup(SimpleNamespace(hub_user={"kind": "user", "name": f"user{n}"}))
        assert hub.asked == 5  # the newest was kept
        await looked_up.lookup(SimpleNamespace(hub_user={"kind": "user", "name": "user0"}))
        assert hub.asked == 6  # the oldest went

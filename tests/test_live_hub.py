"""The live feed on the JupyterHub gallery service: `blocks/api/events` through the Hub's proxy,
authenticated by the Hub, on a PostgreSQL database (changes come back through NOTIFY)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from tests import hubs
from tests.postgres import fresh_database
from tests.test_live import events_until, frame
from tests.utils import free_port, grid_payload, wait_until

SERVICE = "blocks"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, postgres_server: str) -> Iterator[hubs.Hub]:
    home = tmp_path_factory.mktemp("live-hub")
    port = free_port()
    fragment = hubs.hub_config(
        fresh_database(postgres_server).replace("postgresql://", "postgresql+psycopg://", 1),
        "--port",
        str(free_port()),
        "--name",
        SERVICE,
        "--public-url",
        f"http://127.0.0.1:{port}/",
    )
    settings = 'c.Spawner.environment = {"PYTHONWARNINGS": "ignore"}\n'
    # no user's server is needed: users call the service with their Hub tokens
    with hubs.running_hub(home, (), settings + fragment, port=port) as running:
        for name in ("alice", "bob"):
            made = running.admin.post(f"{running.url}hub/api/users/{name}", timeout=30)
            assert made.status_code in (201, 409), made.text
            issued = running.admin.post(
                f"{running.url}hub/api/users/{name}/tokens", json={"note": "live"}, timeout=30
            )
            assert issued.status_code == 201, issued.text
            running.tokens[name] = issued.json()["token"]
        wait_until(
            lambda: running.as_user("alice").get(gallery(running, "api/me"), timeout=5).ok,
            "the gallery service did not answer",
        )
        yield running


def gallery(hub: hubs.Hub, path: str) -> str:
    return f"{hub.url}services/{SERVICE}/blocks/{path}"


def socket_request(hub: hubs.Hub, name: str | None) -> HTTPRequest:
    headers = {"Authorization": f"token {hub.tokens[name]}"} if name else {}
    url = gallery(hub, "api/events").replace("http://", "ws://", 1)
    return HTTPRequest(url, headers=headers)


async def test_every_hub_user_hears_changes_through_the_proxy(hub: hubs.Hub) -> None:
    alice = await websocket_connect(socket_request(hub, "alice"))
    assert await frame(alice, 10) == {"type": "hello"}
    await asyncio.sleep(1)  # the service's listener connects (then a resync hello)
    while True:
        try:
            await frame(alice, 0.5)
        except asyncio.TimeoutError:
            break
    posted = await asyncio.to_thread(
        hub.as_user("bob").post, gallery(hub, "api/grids"), json=grid_payload(1), timeout=30
    )
    assert posted.status_code == 201, posted.text
    grid: dict[str, Any] = posted.json()
    (event,) = await events_until(alice, bool, timeout=2)
    assert event["kind"] == "posted" and event["grid"]["id"] == grid["id"]
    assert event["grid"]["author"] == "bob" and event["grid"]["owned"] is False
    deleted = await asyncio.to_thread(
        hub.as_user("bob").delete, gallery(hub, f"api/grids/{grid['id']}"), timeout=30
    )
    assert deleted.status_code == 204
    assert await events_until(alice, bool, timeout=2) == [{"kind": "deleted", "id": grid["id"]}]
    alice.close()


async def test_the_hub_refuses_a_socket_without_credentials(hub: hubs.Hub) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(socket_request(hub, None))
    assert refused.value.code in (302, 401, 403)

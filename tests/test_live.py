"""The change feed, `blocks/api/events`: posts, renames and deletes of public grids reach every
subscriber within a second, secret grids never; a subscriber that stops reading is dropped
without holding up the others; on PostgreSQL every server on the database hears every change,
also after its listening connection was cut."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from jupyter_blocks.handlers.records import GridRecords
from jupyter_blocks.ids import GridIds
from jupyter_blocks.live import Deleted, FlushFrames, Posted, Renamed
from tests.utils import grid_payload, start_server, stop_server

WITHIN = 1.0  # seconds: the delivery goal


@pytest.fixture
def blocks_config() -> dict[str, Any]:
    return {"cache_seconds": 0}


async def frame(ws: WebSocketClientConnection, timeout: float = WITHIN) -> dict[str, Any] | None:
    """The next frame as JSON (None: the socket closed)."""
    message = await asyncio.wait_for(ws.read_message(), timeout)
    if message is None:
        return None
    assert isinstance(message, str), "text frames only"
    found: dict[str, Any] = json.loads(message)
    return found


async def events_until(
    ws: WebSocketClientConnection,
    done: Callable[[list[dict[str, Any]]], bool],
    timeout: float = WITHIN,
) -> list[dict[str, Any]]:
    """The events received until `done(events)` holds, within `timeout` seconds."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not done(events):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"not within {timeout} s; got {events}")
        message = await frame(ws, left)
        assert message is not None, "closed"
        if message["type"] == "changes":
            events.extend(message["events"])
    return events


async def drain(ws: WebSocketClientConnection, seconds: float = 0.3) -> list[dict[str, Any]]:
    frames = []
    try:
        while True:
            message = await frame(ws, seconds)
            if message is None:
                break
            frames.append(message)
    except asyncio.TimeoutError:
        pass
    return frames


async def until(check: Callable[[], Any], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.fixture
def subscribe(jp_ws_fetch: Any, blocks_app: Any) -> Any:
    """Open a subscriber: its hello read, and on PostgreSQL once the server listens."""

    async def connect(**kwargs: Any) -> WebSocketClientConnection:
        ws = await jp_ws_fetch("blocks", "api", "events", **kwargs)
        assert await frame(ws) == {"type": "hello"}
        listener = blocks_app.feed.listener
        if listener is not None:
            await until(lambda: listener.listening)
            await drain(ws)  # the resync of a subscriber that came before the listener
        return ws

    return connect


async def test_post_rename_and_delete_reach_a_subscriber_within_a_second(
    subscribe: Any, jp_fetch: Any, post_grid: Any
) -> None:
    ws = await subscribe()
    grid = await post_grid(**grid_payload(1))
    events = await events_until(ws, bool)
    listing = json.loads((await jp_fetch("blocks", "api", "grids")).body)
    # a summary exactly as the listing's (page URLs use the host each request named)
    shown = {**events[0]["grid"], "url": listing["items"][0]["url"]}
    assert events == [{"kind": "posted", "grid": events[0]["grid"]}]
    assert shown == listing["items"][0]
    assert events[0]["grid"]["id"] == grid["id"] and events[0]["grid"]["owned"] is True

    await jp_fetch(
        "blocks", "api", "grids", grid["id"], method="PATCH", body=json.dumps({"title": "Owl"})
    )
    assert await events_until(ws, bool) == [{"kind": "renamed", "id": grid["id"], "title": "Owl"}]

    await jp_fetch("blocks", "api", "grids", grid["id"], method="DELETE")
    assert await events_until(ws, bool) == [{"kind": "deleted", "id": grid["id"]}]
    ws.close()


async def test_posts_through_the_ipythonblocks_protocol_are_announced(
    subscribe: Any, jp_fetch: Any
) -> None:
    ws = await subscribe()
    await jp_fetch("blocks", "post", method="POST", body=json.dumps(grid_payload(2)))
    (event,) = await events_until(ws, bool)
    assert event["kind"] == "posted" and event["grid"]["title"] == "Sunset rings"
    ws.close()


async def test_secret_grids_are_never_announced(
    subscribe: Any, jp_fetch: Any, post_grid: Any
) -> None:
    ws = await subscribe()
    secret = await post_grid(**grid_payload(3, secret=True))
    await jp_fetch(
        "blocks", "api", "grids", secret["id"], method="PATCH", body=json.dumps({"title": "x"})
    )
    await jp_fetch("blocks", "api", "grids", secret["id"], method="DELETE")
    public = await post_grid(**grid_payload(4))
    events = await events_until(ws, bool)
    assert events == [{"kind": "posted", "grid": events[0]["grid"]}]
    assert events[0]["grid"]["id"] == public["id"]
    assert secret["id"] not in json.dumps(await drain(ws))
    ws.close()


async def test_many_subscribers_each_get_one_frame_with_every_change(
    subscribe: Any, post_grid: Any
) -> None:
    sockets = [await subscribe() for _ in range(5)]
    posted = [await post_grid(**grid_payload(n)) for n in range(3)]
    for ws in sockets:
        events = await events_until(ws, lambda events: len(events) >= 3)
        assert [event["grid"]["id"] for event in events] == [grid["id"] for grid in posted]
        ws.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_subscriber_that_stops_reading_is_dropped_and_the_others_are_not_held_up(
    subscribe: Any, blocks_app: Any
) -> None:
    feed = blocks_app.feed
    feed.max_buffer_bytes = 64 * 1024
    slow = await subscribe()
    slow.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader = await subscribe()
    received = 0
    for burst in range(20):
        started = time.monotonic()
        for n in range(150):  # a frame of about 40 KB
            feed.publish(Renamed(burst * 1000 + n + 1, "t" * 200))
        events = await events_until(reader, lambda events: len(events) >= 150)
        assert time.monotonic() - started < WITHIN
        received += len(events)
    assert received == 20 * 150
    assert len(feed.subscribers) == 1, "the one that did not read was dropped"
    # Once it reads again it finds its socket closed (it would reconnect and resync).
    deadline = time.monotonic() + 15
    while await frame(slow, 15) is not None:
        assert time.monotonic() < deadline
    reader.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_frames_of_every_size_arrive_whole(subscribe: Any, blocks_app: Any) -> None:
    """Frames are written as encoded once (live.text_frame): each of the three ways a frame
    states its length (under 126 bytes, up to 64 KiB, beyond) reaches a client intact."""
    feed = blocks_app.feed
    ws = await subscribe()
    for count, size in ((1, 1), (10, 100), (200, 400)):  # frames of ~60 B, ~1.5 KB, ~90 KB
        for n in range(count):
            feed.publish(Renamed(n + 1, "t" * size))
        message = await asyncio.wait_for(ws.read_message(), WITHIN)
        assert isinstance(message, str)
        assert json.loads(message) == {
            "type": "changes",
            "events": [
                {"kind": "renamed", "id": blocks_app.ids.public(n + 1), "title": "t" * size}
                for n in range(count)
            ],
        }
    assert len(message.encode()) > 0xFFFF
    ws.close()


def test_a_flush_encodes_one_frame_per_way_it_is_seen_not_per_subscriber() -> None:
    """300 subscribers of 30 users, 3 of them (and a moderator) authors of the flush's posts:
    each gets what their own user would (owned, can_delete), from 2 frames per author in the
    flush plus 2 (moderators' and everyone else's)."""
    ids = GridIds("salt")
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def posted(row_id: int, author: str) -> Posted:
        return Posted(
            (row_id, False, None, author, f"by {author}", created, "BlockGrid", 2, 2, None)
        )

    changes = [
        posted(1, "student-0"),
        Renamed(1, "renamed"),
        posted(2, "student-1"),
        posted(3, "teacher"),
        Deleted(2),
        posted(4, "student-0"),
    ]
    viewers = [
        GridRecords(ids, "/blocks", "http://class", f"student-{n % 30}", moderator=False)
        for n in range(300)
    ]
    viewers += [GridRecords(ids, "/blocks", "http://class", "teacher", moderator=True)] * 2
    frames = FlushFrames(ids, changes)
    for records in viewers:
        sent = frames.seen_by(records)
        events = json.loads(sent.message)["events"]
        assert sent.wire.endswith(sent.message)
        expected = [
            {"kind": "posted", "grid": records.summary_of_row(change.row)}
            if isinstance(change, Posted)
            else {"kind": "renamed", "id": ids.public(1), "title": "renamed"}
            if isinstance(change, Renamed)
            else {"kind": "deleted", "id": ids.public(2)}
            for change in changes
        ]
        assert events == expected
    assert len({id(frames.seen_by(records)) for records in viewers}) == 4
    assert len(frames._frames) == 4  # student-0's, student-1's, the teacher's, everyone else's


async def test_an_unauthenticated_socket_is_refused(jp_ws_fetch: Any) -> None:
    with pytest.raises(HTTPClientError) as refused:
        await jp_ws_fetch("blocks", "api", "events", headers={"Authorization": ""})
    assert refused.value.code == 403


async def test_a_plain_get_of_the_socket_is_a_json_400(jp_fetch: Any) -> None:
    response = await jp_fetch("blocks", "api", "events", raise_error=False)
    assert response.code == 400
    assert set(json.loads(response.body)) == {"message", "errors"}


# PostgreSQL: LISTEN/NOTIFY between servers on one database


def _listen_connections(db_url: str) -> int:
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return int(
                connection.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND application_name = 'jupyter-blocks-listen'"
                    )
                )
            )
    finally:
        engine.dispose()


def _cut_listen_connections(db_url: str) -> None:
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database()"
                    " AND application_name = 'jupyter-blocks-listen'"
                )
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_two_servers_on_one_postgresql_hear_each_others_changes_once(
    subscribe: Any, post_grid: Any, db_url: str, tmp_path: Path
) -> None:
    second = await asyncio.to_thread(
        start_server,
        "live-second",
        "server",
        tmp_path / "second",
        [f"--BlocksApp.db_url={db_url}", "--BlocksApp.default_author=bob"],
    )
    try:
        request = HTTPRequest(
            second.url.replace("http://", "ws://") + "blocks/api/events",
            headers={"Authorization": f"token {second.token}"},
        )
        theirs = await websocket_connect(request)
        assert await frame(theirs, 5) == {"type": "hello"}
        await asyncio.sleep(1)  # its listener connects
        await drain(theirs)
        ours = await subscribe()

        bobs = await asyncio.to_thread(second.post_grid, grid_payload(5))
        (event,) = await events_until(ours, bool)
        assert event["grid"]["id"] == bobs["id"]
        assert event["grid"]["author"] == "bob" and event["grid"]["owned"] is False
        (event,) = await events_until(theirs, bool)
        assert event["grid"]["id"] == bobs["id"] and event["grid"]["owned"] is True

        mine = await post_grid(**grid_payload(6))
        for ws in (ours, theirs):
            (event,) = await events_until(ws, bool)
            assert event == {"kind": "posted", "grid": event["grid"]}
            assert event["grid"]["id"] == mine["id"]
        renamed = await asyncio.to_thread(
            second.api, "PATCH", f"api/grids/{bobs['id']}", json={"title": "Renamed by bob"}
        )
        assert renamed.status_code == 200
        for ws in (ours, theirs):
            assert await events_until(ws, bool) == [
                {"kind": "renamed", "id": bobs["id"], "title": "Renamed by bob"}
            ]
        # exactly once: nothing more follows
        assert await drain(ours, 0.5) == [] and await drain(theirs, 0.5) == []
        theirs.close()
        ours.close()
    finally:
        await asyncio.to_thread(stop_server, second)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_cut_listening_connection_resyncs_subscribers_and_changes_still_arrive(
    subscribe: Any, post_grid: Any, blocks_app: Any, db_url: str
) -> None:
    ws = await subscribe()
    assert await asyncio.to_thread(_listen_connections, db_url) == 1
    await asyncio.to_thread(_cut_listen_connections, db_url)
    assert await frame(ws, 10) == {"type": "hello"}, "told to resync once it listens again"
    assert blocks_app.feed.listener.listening
    grid = await post_grid(**grid_payload(7))
    (event,) = await events_until(ws, bool)
    assert event["grid"]["id"] == grid["id"]
    ws.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_listening_connection_is_held_only_while_someone_subscribes(
    subscribe: Any, blocks_app: Any, db_url: str
) -> None:
    listener = blocks_app.feed.listener
    blocks_app.feed.linger_seconds = 0.1
    assert not listener.running
    assert await asyncio.to_thread(_listen_connections, db_url) == 0
    ws = await subscribe()
    assert await asyncio.to_thread(_listen_connections, db_url) == 1
    ws.close()
    await until(lambda: not listener.running)

    # PostgreSQL sees the connection go within a second of the thread's next wake-up
    deadline = time.monotonic() + 5
    while await asyncio.to_thread(_listen_connections, db_url):
        assert time.monotonic() < deadline, "the listening connection stays open"
        await asyncio.sleep(0.2)


@pytest.mark.named_users
async def test_each_subscriber_sees_posts_as_its_own_user_sees_them(
    subscribe: Any, jp_fetch: Any
) -> None:
    alice = await subscribe(headers={"Authorization": "token alice-token"})
    bob = await subscribe(headers={"Authorization": "token bob-token"})
    response = await jp_fetch(
        "blocks",
        "api",
        "grids",
        method="POST",
        body=json.dumps(grid_payload(8)),
        headers={"Authorization": "token alice-token"},
    )
    grid = json.loads(response.body)
    (seen_by_alice,) = await events_until(alice, bool)
    (seen_by_bob,) = await events_until(bob, bool)
    assert seen_by_alice["grid"]["id"] == seen_by_bob["grid"]["id"] == grid["id"]
    assert seen_by_alice["grid"]["author"] == "alice"
    assert (seen_by_alice["grid"]["owned"], seen_by_alice["grid"]["can_delete"]) == (True, True)
    assert (seen_by_bob["grid"]["owned"], seen_by_bob["grid"]["can_delete"]) == (False, False)
    alice.close()
    bob.close()


async def test_the_servers_own_changes_are_emitted_as_jupyter_events(
    jp_serverapp: Any, jp_fetch: Any, post_grid: Any
) -> None:
    from jupyter_blocks.live import GRID_CHANGE_SCHEMA

    emitted: list[dict[str, Any]] = []

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        emitted.append(dict(data))

    jp_serverapp.event_logger.add_listener(schema_id=GRID_CHANGE_SCHEMA, listener=listener)
    grid = await post_grid(**grid_payload(9))
    await post_grid(**grid_payload(10, secret=True))
    await jp_fetch(
        "blocks", "api", "grids", grid["id"], method="PATCH", body=json.dumps({"title": "Yes"})
    )
    await jp_fetch("blocks", "api", "grids", grid["id"], method="DELETE")
    await until(lambda: len(emitted) >= 3)
    jp_serverapp.event_logger.remove_listener(listener=listener)
    assert emitted == [
        {"kind": "posted", "id": grid["id"], "title": grid["title"]},
        {"kind": "renamed", "id": grid["id"], "title": "Yes"},
        {"kind": "deleted", "id": grid["id"]},
    ]

"""The change feed: new public grids, renames and deletes, pushed to every open page and panel.

Subscribers are the websockets of `blocks/api/events` (handlers/live.py). A change is published
after its write committed; the feed gathers what was published for `FLUSH_SECONDS` and sends each
subscriber one frame with all of it, rendered for that subscriber's viewer (whether they own or
may delete a posted grid).

The fan-out is cheap by construction: a flush encodes each event once per way it can be seen
(a stranger's, its author's, a moderator's), joins those into one websocket frame per way a
subscriber can see the whole flush, and hands each subscriber's socket a frame it shares with
every subscriber who sees the flush alike. So the encoding work of a flush grows with the
authors in it, not with the subscribers; each subscriber costs one write of ready bytes.

Where the changes come from:
- SQLite: the writes of this process (handlers publish after their write succeeded). Changes
  made by another process on the same file (the CLI) show on the next resync.
- PostgreSQL: every write transaction that changes a public grid issues `pg_notify` (service.
  announce), which PostgreSQL delivers on commit to every server listening on the database, this
  one included; so each change arrives exactly once, through `PgListener`, which reads what a
  listing shows of it and publishes it. The listener holds one connection of its own (not from
  the pool) while this server has subscribers, and none when it has none.

A subscriber that does not read what it is sent has at most `max_buffer_bytes` of frames waiting
in this process; beyond that it is closed (it resyncs when it reconnects) and the others are not
held up. Used on the event loop's thread only, except `PgListener`'s thread, which hands what it
hears to the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from sqlalchemy.engine import URL

if TYPE_CHECKING:
    from .db import Database
    from .handlers.records import GridRecords
    from .ids import GridIds
    from .read_cache import ReadCache

# Changes are gathered for this long after the first of them, then sent as one frame.
FLUSH_SECONDS = 0.25
# Frames a flush sends before other work of the event loop gets a turn.
SENDS_PER_TURN = 10
# More changes than this in one frame: subscribers are told to resync instead (one hello is
# smaller than hundreds of summaries, and a burst this big is an import, not a class).
MAX_EVENTS_PER_FRAME = 200
# Frames sent to a subscriber and not yet handed to its socket, at most: past this it is closed.
MAX_BUFFER_BYTES = 512 * 1024
# The kernel's send buffer of a subscriber's socket (Linux doubles it): no autotuning to
# megabytes for a client that does not read.
SOCKET_SEND_BUFFER_BYTES = 64 * 1024
# The listener stays connected this long after the last subscriber left (a page reloading).
LINGER_SECONDS = 5.0
# PostgreSQL's channel for jupyter-blocks changes (service.announce sends on it).
CHANNEL = "jupyter_blocks"  # = service.CHANGES_CHANNEL
# Reconnecting after an outage: first wait, then doubled up to the last.
RECONNECT_SECONDS = (0.5, 10.0)

# The jupyter_events schema of this server's own changes (event_schemas/grid_change/v1.yaml).
GRID_CHANGE_SCHEMA = "https://events.jupyter.org/jupyter_blocks/grid_change/v1"


@dataclass(frozen=True, slots=True)
class Frame:
    """A message of the feed and the websocket frame that carries it (`wire`), encoded once for
    every subscriber it goes to: a server's frames are not masked (RFC 6455, 5.1) and the feed's
    are not compressed, so the bytes on the wire are the same for all of them."""

    message: bytes
    wire: bytes


def text_frame(message: bytes) -> Frame:
    """`message` (UTF-8 JSON) as one final, unmasked websocket text frame (RFC 6455, 5.2)."""
    size = len(message)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return Frame(message, header + message)


HELLO = text_frame(msgspec.json.encode({"type": "hello"}))


@dataclass(frozen=True, slots=True)
class Posted:
    """A new public grid: its summary columns, in the order of GridRecords._summary."""

    row: tuple[Any, ...]

    @property
    def secret(self) -> bool:
        return bool(self.row[1])

    @property
    def author(self) -> str:
        return str(self.row[3])

    @property
    def title(self) -> str | None:
        return self.row[4]  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Renamed:
    row_id: int
    title: str | None


@dataclass(frozen=True, slots=True)
class Deleted:
    row_id: int


Change = Posted | Renamed | Deleted


class Subscriber(Protocol):
    """An open events socket: how its viewer sees grids, and how to send it a frame."""

    records: GridRecords

    def send(self, frame: Frame) -> None: ...


class Feed:
    """The changes of public grids, to the subscribers of this server."""

    def __init__(
        self,
        ids: GridIds,
        log: logging.Logger,
        database: Database | None = None,
        reads: ReadCache | None = None,
    ) -> None:
        self.ids = ids
        self.log = log
        self.flush_seconds = FLUSH_SECONDS
        self.max_buffer_bytes = MAX_BUFFER_BYTES
        self.linger_seconds = LINGER_SECONDS
        # (a dict: frames go out in the order subscribers came)
        self.subscribers: dict[Subscriber, None] = {}
        self._pending: list[Change] = []
        self._sending = False
        self._flush: asyncio.TimerHandle | None = None
        self.listener: PgListener | None = None
        # emits a jupyter_events event of GRID_CHANGE_SCHEMA with the given data (app.py)
        self.emit: Callable[[dict[str, Any]], None] | None = None
        if database is not None and database.engine.url.get_backend_name() == "postgresql":
            assert reads is not None, "the listener forgets stale reads"
            self.listener = PgListener(self, database, reads)

    @property
    def local(self) -> bool:
        """Whether this process's own writes are published by it (SQLite), rather than coming
        back through PostgreSQL's NOTIFY."""
        return self.listener is None

    # subscribers

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers[subscriber] = None
        subscriber.send(HELLO)
        if self.listener is not None:
            self.listener.wanted(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.pop(subscriber, None)
        if self.listener is not None and not self.subscribers:
            self.listener.unwanted()

    def resync(self, subscribers: Iterable[Subscriber] | None = None) -> None:
        """Tell subscribers (all by default) to refetch what they show."""
        for subscriber in list(self.subscribers if subscribers is None else subscribers):
            if subscriber in self.subscribers:
                subscriber.send(HELLO)

    # changes

    def wrote(self, change: Change) -> None:
        """A write of this process committed `change` (of a public grid): published here on
        SQLite; on PostgreSQL it comes back through NOTIFY. Emitted as a jupyter_events event
        too, when the server's event logger was given (`emit`)."""
        if isinstance(change, Posted) and change.secret:
            return
        if self.emit is not None:
            self.emit(self._event_data(change))
        if self.local:
            self.publish(change)

    def _event_data(self, change: Change) -> dict[str, Any]:
        """`change` as the data of a `GRID_CHANGE_SCHEMA` event."""
        if isinstance(change, Posted):
            return {"kind": "posted", "id": self.ids.public(change.row[0]), "title": change.title}
        if isinstance(change, Renamed):
            return {"kind": "renamed", "id": self.ids.public(change.row_id), "title": change.title}
        return {"kind": "deleted", "id": self.ids.public(change.row_id)}

    def publish(self, change: Change) -> None:
        if isinstance(change, Posted) and change.secret:  # secret grids are never announced
            return
        if not self.subscribers:
            return
        self._pending.append(change)
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self.flush_seconds, self.flush)

    def flush(self) -> None:
        """Send each subscriber the changes gathered since the last flush, in one frame."""
        self._flush = None
        if self._sending:  # the last flush is still sending: its frames go first
            self._flush = asyncio.get_running_loop().call_later(0.01, self.flush)
            return
        changes, self._pending = self._pending, []
        if not changes:
            return
        if len(changes) > MAX_EVENTS_PER_FRAME:
            self.resync()
            return
        frames = FlushFrames(self.ids, changes)
        sends = [
            (subscriber, frames.seen_by(subscriber.records)) for subscriber in self.subscribers
        ]
        self._sending = True
        self._send(sends, 0)

    def _send(self, sends: list[tuple[Subscriber, Frame]], start: int) -> None:
        """Send a flush's frames, `SENDS_PER_TURN` at a time: a send costs a system call, and
        requests waiting meanwhile get their turn of the event loop in between."""
        for subscriber, frame in sends[start : start + SENDS_PER_TURN]:
            if subscriber in self.subscribers:
                subscriber.send(frame)
        if start + SENDS_PER_TURN < len(sends):
            asyncio.get_running_loop().call_soon(self._send, sends, start + SENDS_PER_TURN)
        else:
            self._sending = False

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self.listener is not None:
            self.listener.stop()


class FlushFrames:
    """The frames of one flush, each made once for all the subscribers who see it alike.

    Subscribers see a flush alike when their pages have the same URLs (`root`, `origin`), they
    are moderators or not, and they authored the same of its posted grids: the only way to have
    authored any is to be that grid's author. So a flush has at most two frames (moderators' and
    others') per author in it, plus two, per site, however many subscribers there are. Each
    event is encoded once per way it is seen (`_encoded`), and a frame joins those.
    """

    def __init__(self, ids: GridIds, changes: Sequence[Change]) -> None:
        self.ids = ids
        self.changes = changes
        self.authors = {change.author for change in changes if isinstance(change, Posted)}
        self._frames: dict[tuple[str, str, str | None, bool], Frame] = {}
        self._summaries: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._encoded: dict[tuple[str, str, int, bool, bool], bytes] = {}

    def seen_by(self, records: GridRecords) -> Frame:
        """The frame for a subscriber whose viewer is `records`'."""
        author = records.viewer if records.viewer in self.authors else None
        key = (records.root, records.origin, author, records.moderator)
        frame = self._frames.get(key)
        if frame is None:
            events = b",".join(self._event(records, index) for index in range(len(self.changes)))
            frame = self._frames[key] = text_frame(b'{"type":"changes","events":[%s]}' % events)
        return frame

    def _event(self, records: GridRecords, index: int) -> bytes:
        change = self.changes[index]
        if not isinstance(change, Posted):
            key = ("", "", index, False, False)  # seen alike by everyone
        else:
            author = change.author
            key = (
                records.root,
                records.origin,
                index,
                author == records.viewer,
                records.may_delete(author),
            )
        encoded = self._encoded.get(key)
        if encoded is None:
            encoded = self._encoded[key] = msgspec.json.encode(self._as_event(records, index))
        return encoded

    def _as_event(self, records: GridRecords, index: int) -> dict[str, Any]:
        change = self.changes[index]
        if isinstance(change, Posted):
            at = (records.root, records.origin, index)
            summary = self._summaries.get(at)
            if summary is None:
                summary = self._summaries[at] = records.summary_of_row(change.row)
            return {"kind": "posted", "grid": records.as_seen(summary)}
        if isinstance(change, Renamed):
            return {"kind": "renamed", "id": self.ids.public(change.row_id), "title": change.title}
        return {"kind": "deleted", "id": self.ids.public(change.row_id)}


def conninfo(url: URL) -> str:
    """A libpq URI for psycopg from the SQLAlchemy URL of the database."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgListener:
    """LISTEN on a connection of its own, in a thread of its own, while there are subscribers.

    The thread waits for notifications (ids and kinds only: NOTIFY carries at most 8000 bytes)
    and hands them to the event loop, which reads what a listing shows of those grids in a read
    session (off the loop) and publishes them. The connection is exempt from the idle-session
    timeout of the pool's connections (it is idle for as long as nobody writes). When it breaks
    (PostgreSQL restarts, the connection is terminated) the thread reconnects, and once it
    listens again every subscriber is told to resync, for what happened in between.
    """

    def __init__(self, feed: Feed, database: Database, reads: ReadCache) -> None:
        self.feed = feed
        self.database = database
        self.reads = reads
        self.log = feed.log
        self.listening = False
        # subscribers that joined before the listener listened: they resync once it does
        self._early: set[Subscriber] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._linger: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heard: list[str] = []
        self._reading: asyncio.Task[None] | None = None
        self.connections = 0  # how many times it connected (tests)

    # started and stopped on the loop

    def wanted(self, subscriber: Subscriber) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if not self.listening:
            self._early.add(subscriber)
        if self._thread is None:
            self._start()

    def unwanted(self) -> None:
        if self._thread is not None and self._linger is None:
            loop = asyncio.get_running_loop()
            self._linger = loop.call_later(self.feed.linger_seconds, self.stop)

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(self._stop, self._loop),
            name="jupyter-blocks-listen",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: the thread closes its connection within a second."""
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        self._stop.set()
        self._thread = None
        self.listening = False

    @property
    def running(self) -> bool:
        return self._thread is not None

    # the thread

    def _run(self, stop: threading.Event, loop: asyncio.AbstractEventLoop) -> None:
        import psycopg

        delay = RECONNECT_SECONDS[0]
        failing = False
        while not stop.is_set():
            try:
                with psycopg.connect(
                    conninfo(self.database.engine.url),
                    autocommit=True,
                    connect_timeout=5,
                    application_name="jupyter-blocks-listen",
                ) as connection:
                    connection.execute("SET idle_session_timeout = 0")
                    connection.execute(f"LISTEN {CHANNEL}")
                    self._call(loop, stop, self._listening)
                    delay, failing = RECONNECT_SECONDS[0], False
                    while not stop.is_set():
                        for notice in connection.notifies(timeout=1.0):
                            self._call(loop, stop, self._heard_one, notice.payload)
                            if stop.is_set():
                                break
            except Exception as error:  # psycopg's, or any other: listen again, never die
                self._call(loop, stop, self._lost)
                if not failing:  # once per outage
                    cause = str(error).strip().splitlines()[0] if str(error).strip() else error
                    self.log.warning(
                        "jupyter-blocks: listening for changes on the database failed (%s); "
                        "reconnecting",
                        cause,
                    )
                failing = True
                stop.wait(delay)
                delay = min(delay * 2, RECONNECT_SECONDS[1])

    def _call(
        self,
        loop: asyncio.AbstractEventLoop,
        stop: threading.Event,
        function: Callable[..., None],
        *args: Any,
    ) -> None:
        if stop.is_set() or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._on_loop, stop, function, *args)

    def _on_loop(self, stop: threading.Event, function: Callable[..., None], *args: Any) -> None:
        if not stop.is_set():  # a listener stopped since: its news are not news
            function(*args)

    # back on the loop

    def _listening(self) -> None:
        first = self.connections == 0
        self.connections += 1
        self.listening = True
        early, self._early = self._early, set()
        # Changes made before LISTEN took effect were not heard: resync who could have missed
        # them (after an outage, everyone).
        self.reads.wrote()
        self.feed.resync(early if first else None)

    def _lost(self) -> None:
        if self.listening:
            self.listening = False
            self._early = set(self.feed.subscribers)

    def _heard_one(self, payload: str) -> None:
        self._heard.append(payload)
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read_heard())

    async def _read_heard(self) -> None:
        from . import service

        try:
            while self._heard:
                heard, self._heard = self._heard, []
                changes = _parse(heard)
                wanted = [row_id for kind, row_id in changes if kind != "d"]
                rows: dict[int, Any] = {}
                if wanted:
                    try:
                        rows = await self.database.read(
                            partial(service.announced_grids, row_ids=wanted), one_statement=True
                        )
                    except Exception as error:  # any failure: resync instead
                        self.log.warning(
                            "jupyter-blocks: could not read announced changes: %s", error
                        )
                        self.reads.wrote()
                        self.feed.resync()
                        continue
                self._publish(changes, rows)
        finally:
            self._reading = None

    def _publish(self, changes: list[tuple[str, int]], rows: dict[int, Any]) -> None:
        from .ids import GridKey

        for kind, row_id in changes:
            # another server may have written this: forget recent reads it made stale
            self.reads.wrote(deleted=GridKey(row_id) if kind == "d" else None)
            if kind == "d":
                self.feed.publish(Deleted(row_id))
                continue
            row = rows.get(row_id)
            if row is None:  # deleted (or not public) since
                continue
            if kind == "p":
                self.feed.publish(Posted(tuple(row)))
            else:
                self.feed.publish(Renamed(row_id, row.title))


def _parse(payloads: Iterable[str]) -> list[tuple[str, int]]:
    """`p:<row id>`, `r:<row id>`, `d:<row id>` (service.announce); anything else is skipped."""
    changes = []
    for payload in payloads:
        kind, _, number = payload.partition(":")
        if kind in ("p", "r", "d") and number.isascii() and number.isdigit():
            changes.append((kind, int(number)))
    return changes

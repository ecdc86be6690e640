"""`GET blocks/api/events`: the change feed (live.py) as a websocket, one per open page or panel.

Server to client, JSON text frames only: `{"type": "hello"}` on connect (and again whenever the
client should refetch what it shows), then `{"type": "changes", "events": [...]}` with events
`{"kind": "posted", "grid": <summary>}`, `{"kind": "renamed", "id", "title"}` and
`{"kind": "deleted", "id"}`. What the client sends is ignored. See docs/api.md.
"""

from __future__ import annotations

import contextlib
import socket
from functools import partial
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from tornado import websocket
from tornado.iostream import StreamClosedError

from ..constants import NAMESPACE
from ..live import SOCKET_SEND_BUFFER_BYTES, Feed, Frame
from .base import ApiError, write_json_error
from .records import GridRecords

if TYPE_CHECKING:
    import asyncio

    from ..app import BlocksApp

# Close code for a subscriber that fell too far behind: "try again later" (it resyncs then).
TOO_SLOW = 1013


class EventsHandler(
    ExtensionHandlerMixin, WebSocketMixin, websocket.WebSocketHandler, JupyterHandler
):
    """A subscriber of the change feed."""

    auth_resource = NAMESPACE
    records: GridRecords
    # bytes of frames handed to Tornado that its stream has not yet passed to the kernel, and
    # the most there may be (the feed's bound when this socket opened)
    _behind = 0
    _max_behind = 0
    _subscribed = False

    @property
    def blocks(self) -> BlocksApp:
        return self.extensionapp  # type: ignore[return-value]

    @property
    def feed(self) -> Feed:
        return self.blocks.feed

    @ws_authenticated
    @authorized
    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise ApiError(400, "This is a websocket: connect with Upgrade: websocket")
        user = self.current_user
        blocks = self.blocks
        request = self.request
        self.records = GridRecords(
            ids=blocks.ids,
            root=url_path_join(self.base_url, NAMESPACE),
            origin=blocks.public_origin or f"{request.protocol}://{request.host}",
            viewer=blocks.author_for(user),
            moderator=await blocks.is_moderator(user),
        )
        await super().get(*args, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        write_json_error(self, status_code, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        stream = self.ws_connection.stream if self.ws_connection else None
        if stream is not None and stream.socket is not None:
            # A client that stops reading fills this much of the kernel's memory, not megabytes.
            with contextlib.suppress(OSError):
                stream.socket.setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SEND_BUFFER_BYTES
                )
        self._max_behind = self.feed.max_buffer_bytes
        self._subscribed = True
        self.feed.subscribe(self)

    def on_message(self, message: str | bytes) -> None:
        """Clients have nothing to say."""

    def get_compression_options(self) -> None:
        """No per-message compression: the feed's frames are encoded once, for every subscriber
        alike (live.Frame), and written as they are."""
        return None

    def send(self, frame: Frame) -> None:
        """Write `frame`, or close this socket when what it has not taken yet would pass the
        feed's bound (the client resyncs when it reconnects).

        The frame's bytes are written to the connection's stream as they are: Tornado's
        `write_message` would build the same frame again for each subscriber and wrap each
        write in a task of its own. Frames written whole, one after another, on the event loop,
        interleave with Tornado's own (pings, the closing frame) as whole frames too."""
        if not self._subscribed:
            return
        connection = self.ws_connection
        if connection is None or connection.stream is None or connection.is_closing():
            self._unsubscribe()
            return
        size = len(frame.wire)
        if self._behind + size > self._max_behind:
            self.log.info(
                "jupyter-blocks: closing a change subscriber that fell %d bytes behind",
                self._behind,
            )
            self._unsubscribe()
            self.close(TOO_SLOW, "too far behind; reconnect")
            return
        try:
            written = connection.stream.write(frame.wire)
        except StreamClosedError:
            self._unsubscribe()
            return
        # Mostly the kernel takes the frame at once; otherwise it waits in the stream's buffer
        # (after any other waiting there) until the client reads.
        if not written.done():
            self._behind += size
            written.add_done_callback(partial(self._written, size))

    def _written(self, size: int, written: asyncio.Future[None]) -> None:
        self._behind -= size
        if not written.cancelled() and written.exception() is not None:
            self._unsubscribe()

    def _unsubscribe(self) -> None:
        if self._subscribed:
            self._subscribed = False
            self.feed.unsubscribe(self)

    def on_close(self) -> None:
        self._unsubscribe()
        pinging: Any = self.ping_callback
        if pinging is not None:
            pinging.stop()

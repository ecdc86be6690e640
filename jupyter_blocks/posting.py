"""Posts are checked and stored by posting processes, beside the server's own.

A post is the server's costliest request: its body is parsed, checked and drawn, and stored by
SQLAlchemy and the database driver, all work that holds the GIL. In the server's process a
database thread waited for the event loop to let go of the GIL at each of its calls into the
driver: an insert took 0.9 ms for 0.35 ms of CPU, and that one writing thread was what limited
the server (measured with benchmarks/run.py). A posting process has a GIL of its own. It takes
the body as it came, checks and draws it, stores it in one request-scoped session, and answers
with the stored grid. The event loop only forwards bodies and reads answers, over sockets it
watches itself: no thread of the server's takes part.

SQLite is written by one posting process, as it lets one connection write at a time (the
server's own few writes, renames and deletes, wait for its lock); PostgreSQL by a few, so that
a post waiting for its commit holds up no other. A posting process that dies (killed when the
machine ran out of memory, say) fails the posts it had with a 503; the next post starts a new
one.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from . import db, service
from .ids import GridIds
from .scheduling import never_preempt_the_event_loop
from .validation import FieldError, InvalidPayload, Limits, NewGrid, PayloadValidator

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext, SpawnContext

log = logging.getLogger(__name__)

# Most posting processes that write to a PostgreSQL database (each with one connection).
MAX_POSTGRESQL_PROCESSES = 3
# Posts of bodies bigger than this are checked by at most half as many processes as CPUs at once.
HEAVY_BODY_BYTES = 64 * 1024
# A posting process sends the answers to posts that arrived together at once, up to this many.
ANSWERS_SENT_TOGETHER = 4
# A post of a small body goes to the first posting process with fewer posts than this waiting
# (see `Posting._process_for`).
FILL_BEFORE_THE_NEXT = 2 * ANSWERS_SENT_TOGETHER
RECEIVE_BYTES = 1024 * 1024
# A posting process asked to stop is killed if it has not after this long.
STOP_SECONDS = 5.0
UNKNOWN_PARENT = FieldError("parent", "no grid with this id to remix from")

# A post goes as the sizes of the rest of it, pickled, and of its body, then both; an answer as
# its size, then the pickled answer. The body is sent as it came, never copied into a pickle.
_POST_SIZES = struct.Struct("!QQ")
_ANSWER_SIZE = struct.Struct("!Q")
# Posting processes are forked from a server process that has imported what they need once
# (a spawned process would import it all again, for half a second of CPU). Windows has no
# forkserver: there they are spawned.
if "forkserver" in multiprocessing.get_all_start_methods():
    _FORKSERVER = multiprocessing.get_context("forkserver")
    _FORKSERVER.set_forkserver_preload([__name__])
    _PROCESSES: ForkServerContext | SpawnContext = _FORKSERVER
else:
    _PROCESSES = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class PostingSettings:
    """What a posting process needs to know: where the grids are, and the server's limits and
    ids (a post names the grid it remixes by id)."""

    db_url: str
    limits: Limits
    salt: str
    id_min_length: int


@dataclass(frozen=True)
class Post:
    """A post's body, as it came, and who posts it. `whole`: the answer needs the grid's whole
    record (its data and code), not just its id."""

    body: bytes
    author: str
    idempotency_key: str | None
    whole: bool


@dataclass(frozen=True)
class Stored:
    grid: service.StoredGrid


@dataclass(frozen=True)
class Refused:
    message: str
    errors: list[FieldError]


@dataclass(frozen=True)
class Unavailable:
    cause: str


@dataclass(frozen=True)
class Failed:
    """Our error: the posting process logged it."""


Answer = Stored | Refused | Unavailable | Failed


class ProcessStopped(Exception):
    """The posting process stopped before it answered."""


class PostingFailed(Exception):
    """The posting process failed on a post (see its log)."""


def share_connections(db_url: str, connections: int) -> tuple[int, int]:
    """How a server that may hold `connections` database connections shares them: how many
    its own pool holds, and how many posting processes it starts (one connection each). SQLite
    has one posting process and no limit; PostgreSQL a third of the connections (one to
    MAX_POSTGRESQL_PROCESSES), the server's pool the rest (at least one)."""
    if make_url(db_url).get_backend_name() == "sqlite":
        return connections, 1
    processes = min(max(1, connections // 3), MAX_POSTGRESQL_PROCESSES)
    return max(1, connections - processes), processes


class Posting:
    """The posting processes of one server."""

    def __init__(self, settings: PostingSettings, processes: int) -> None:
        self._settings = settings
        self._processes = [PostingProcess(settings) for _ in range(processes)]
        # Big bodies take tens of milliseconds of CPU each: as many at a time as half the
        # machine's cores, so that they never crowd the event loop's thread off the CPU.
        self._heavy = asyncio.Semaphore(max(1, (os.cpu_count() or 2) // 2))

    async def post(self, post: Post) -> service.StoredGrid:
        """Check and store `post`: the stored grid, or InvalidPayload, db.DatabaseUnavailable,
        ProcessStopped or PostingFailed."""
        if len(post.body) > HEAVY_BODY_BYTES:
            async with self._heavy:
                answer = await self._process_for(post).ask(post)
        else:
            answer = await self._process_for(post).ask(post)
        if isinstance(answer, Stored):
            return answer.grid
        if isinstance(answer, Refused):
            raise InvalidPayload(answer.message, answer.errors)
        if isinstance(answer, Unavailable):
            raise db.DatabaseUnavailable(answer.cause)
        raise PostingFailed("a posting process failed on a post: see the server's log")

    def _process_for(self, post: Post) -> PostingProcess:
        """The process to send `post` to. Small posts fill the first process up to
        FILL_BEFORE_THE_NEXT waiting, then the next: one busy process answers more posts per
        wake-up, of itself, its database connection and the event loop, than several taking
        turns (10x10 posts on PostgreSQL, three processes: 1540 per second against 1410 spread
        evenly, benchmarks/run.py). The others take posts when the database is slow to commit
        or posts come faster than one process stores them. Big bodies, each milliseconds of CPU,
        go to the least busy process."""
        waiting = [process.waiting for process in self._processes]
        small = len(post.body) <= HEAVY_BODY_BYTES
        index = next((i for i, n in enumerate(waiting) if n < FILL_BEFORE_THE_NEXT), None)
        if index is None or not small:
            index = waiting.index(min(waiting))
        if self._processes[index].stopped:
            log.warning("jupyter-blocks: a posting process stopped; starting a new one")
            self._processes[index].close(wait=False)
            self._processes[index] = PostingProcess(self._settings)
        return self._processes[index]

    def close(self) -> None:
        for process in self._processes:
            process.close()


class PostingProcess:
    """One posting process and the socket to it: posts are answered in the order sent."""

    def __init__(self, settings: PostingSettings) -> None:
        ours, theirs = socket.socketpair()
        self._process = _PROCESSES.Process(
            target=serve, args=(theirs, settings), name="jupyter-blocks-posting", daemon=True
        )
        self._process.start()
        theirs.close()
        self._socket = ours
        self._answers = _Answers()
        self._transport: asyncio.Future[asyncio.Transport] | None = None

    @property
    def waiting(self) -> int:
        return len(self._answers.waiting)

    @property
    def stopped(self) -> bool:
        """Whether the process stopped (its socket closed: it may still be exiting)."""
        return self._answers.stopped

    async def ask(self, post: Post) -> Answer:
        if self._answers.stopped:
            raise ProcessStopped()
        loop = asyncio.get_running_loop()
        # waiting from now on (so that posts sent meanwhile go to other processes), in the
        # order in which the posts are written
        answer: asyncio.Future[Answer] = loop.create_future()
        self._answers.waiting.append(answer)
        if self._transport is None:  # the first post connects; posts meanwhile wait for it
            self._transport = asyncio.ensure_future(self._connect(loop))
        transport = await asyncio.shield(self._transport)
        if answer.done():  # the process stopped meanwhile
            return await answer
        about = pickle.dumps((post.author, post.idempotency_key, post.whole))
        head = _POST_SIZES.pack(len(about), len(post.body)) + about
        if len(post.body) > HEAVY_BODY_BYTES:
            transport.write(head)  # (a send each, but a big body is not copied to join it)
            transport.write(post.body)
        else:
            transport.write(head + post.body)
        return await answer

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> asyncio.Transport:
        transport, _ = await loop.create_connection(lambda: self._answers, sock=self._socket)
        return transport

    def close(self, wait: bool = True) -> None:
        """Stop the process: it finishes the post it has, sees the socket closed, and exits.
        Without `wait` (on the event loop), one that is still there is killed at once; the next
        process started reaps it."""
        self._answers.stopped = True
        # at once (closing the transport would close the socket on the event loop's next turn)
        with suppress(OSError):  # the process is gone already
            self._socket.shutdown(socket.SHUT_WR)
        if self._transport is not None and self._transport.done():
            self._transport.result().close()
        else:
            self._socket.close()
        if not wait:
            if self._process.is_alive():
                self._process.kill()
            return
        self._process.join(STOP_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


class _Answers(asyncio.Protocol):
    """A posting process's answers, read as they arrive (on the event loop, by no thread),
    each for the post first in `waiting`."""

    def __init__(self) -> None:
        self.waiting: deque[asyncio.Future[Answer]] = deque()
        self.stopped = False
        self._received = bytearray()

    def data_received(self, data: bytes) -> None:
        self._received += data
        while len(self._received) >= _ANSWER_SIZE.size:
            (size,) = _ANSWER_SIZE.unpack_from(self._received)
            end = _ANSWER_SIZE.size + size
            if len(self._received) < end:
                return
            answer = pickle.loads(memoryview(self._received)[_ANSWER_SIZE.size : end])
            del self._received[:end]
            waiting = self.waiting.popleft()
            if not waiting.done():
                waiting.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stopped = True
        while self.waiting:
            waiting = self.waiting.popleft()
            if not waiting.done():
                waiting.set_exception(ProcessStopped())


def serve(connection: socket.socket, settings: PostingSettings) -> None:
    """A posting process: answer posts until the server closes the socket. Answers to posts
    that arrived together go back together (at most ANSWERS_SENT_TOGETHER): fewer wake-ups."""
    # Ctrl-C in the server's terminal reaches this process too: the server stops it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    never_preempt_the_event_loop()
    poster = _Poster(settings)
    gc.freeze()
    received, answers, unsent = bytearray(), bytearray(), 0
    with connection:
        while True:
            post = _take_post(received)
            if unsent and (post is None or unsent == ANSWERS_SENT_TOGETHER):
                connection.sendall(answers)
                answers.clear()
                unsent = 0
            if post is None:
                chunk = connection.recv(RECEIVE_BYTES)
                if not chunk:
                    break
                received += chunk
                continue
            data = pickle.dumps(poster.answer(post), pickle.HIGHEST_PROTOCOL)
            answers += _ANSWER_SIZE.pack(len(data))
            answers += data
            unsent += 1
    poster.close()


def _take_post(received: bytearray) -> Post | None:
    """The first post in `received`, taken out of it, once it has all arrived."""
    if len(received) < _POST_SIZES.size:
        return None
    about_size, body_size = _POST_SIZES.unpack_from(received)
    body_start = _POST_SIZES.size + about_size
    end = body_start + body_size
    if len(received) < end:
        return None
    author, idempotency_key, whole = pickle.loads(received[_POST_SIZES.size : body_start])
    post = Post(bytes(memoryview(received)[body_start:end]), author, idempotency_key, whole)
    del received[:end]
    return post


class _Poster:
    """What a posting process does with a post."""

    def __init__(self, settings: PostingSettings) -> None:
        self._validator = PayloadValidator(settings.limits)
        self._ids = GridIds(settings.salt, settings.id_min_length)
        # On PostgreSQL each statement of a post commits by itself (see `_store`).
        self._engine = db.create_engine(settings.db_url, pool_size=1, autocommit=True)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    def answer(self, post: Post) -> Answer:
        try:
            grid = self._store(self._validated(post.body), post)
        except InvalidPayload as refusal:
            return Refused(refusal.message, refusal.errors)
        except Exception as error:
            if db.unavailable(error):
                return Unavailable(str(getattr(error, "orig", None) or error))
            log.exception("jupyter-blocks: a posting process failed on a post")
            return Failed()
        if not post.whole:
            grid = replace(grid, grid_json="", code_cells=None)
        return Stored(grid)

    def _validated(self, body: bytes) -> NewGrid:
        """`body` checked and drawn, with the cycle collector off: the blocks are decoded into
        up to a quarter of a million tuples, whose allocation would set it off again and again
        (a sixth of the time of a 200x200 grid), and that reference counting alone frees."""
        gc.disable()
        try:
            return self._validator.validate(body)
        finally:
            gc.enable()

    def _store(self, new: NewGrid, post: Post) -> service.StoredGrid:
        """Store `new` for the post's author, with its parent (the grid it was remixed from)
        looked up in the same session. A retry repeating an idempotency key gets the first
        grid (`service.create_grid_once`). A post writes one row with one statement, and what
        it reads needs no transaction around it: the unique index decides between retries
        racing each other, the foreign key whether the parent is still there. So on PostgreSQL
        each statement commits by itself, as one-statement requests do (`db`), without a
        BEGIN and COMMIT each, or switching the connection into and out of autocommit."""
        parent_key = None
        if new.parent is not None:
            parent_key = self._ids.decode(new.parent)
            if parent_key is None:
                raise InvalidPayload("Invalid grid payload", [UNKNOWN_PARENT])

        def store(session: Session) -> service.StoredGrid:
            parent = None
            if parent_key is not None:
                parent = service.find_grid(session, parent_key, with_data=False)
                if parent is None:
                    raise InvalidPayload("Invalid grid payload", [UNKNOWN_PARENT])
            try:
                return service.create_grid_once(
                    session, new, post.author, post.idempotency_key, parent
                )
            except sa.exc.IntegrityError:
                session.rollback()
                if parent_key is None or service.find_grid(session, parent_key, False):
                    raise
                # deleted since it was looked up: the foreign key refused the new row
                raise InvalidPayload("Invalid grid payload", [UNKNOWN_PARENT]) from None

        with db.session_context(self._sessions) as session:
            return store(session)

    def close(self) -> None:
        self._engine.dispose()

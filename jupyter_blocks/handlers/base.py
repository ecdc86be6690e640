"""What every jupyter-blocks handler shares: the app, request-scoped sessions, the author,
id decoding, the JSON shape of grids, and one way to report errors."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from sqlalchemy import Row
from sqlalchemy.orm import Session
from tornado import web
from tornado.http1connection import HTTP1Connection

from .. import db, service
from ..constants import BIG_BODY_BYTES, BIG_GRID_CELLS, NAMESPACE, SMALL_BODY_BYTES
from ..ids import GridKey
from ..kernel_env import ORIGIN_HEADER, checked_origin
from ..live import Posted
from ..models import Grid
from ..text import text_problem
from ..validation import FieldError, InvalidPayload
from .records import GridRecords, summary_columns

if TYPE_CHECKING:
    from ..app import BlocksApp

T = TypeVar("T")

# A response body bigger than this is hashed for its ETag in a worker thread and sent in slices
# of this size: tornado would hash and copy it on the event loop (tens of ms for tens of MB).
BIG_RESPONSE_BYTES = 1024 * 1024
# A chunked body (no declared length) over the limit is still read to its end, and thrown away,
# so that a client that sends it all before reading the answer gets the 413 (a cut connection
# would lose it); one still arriving this many seconds after it went over the limit is cut off.
DRAIN_SECONDS = 30.0
# Tornado hands a chunked body over chunk by chunk without returning to the event loop while
# more is buffered: the handler gives other requests a turn after this many chunks.
CHUNKS_BETWEEN_TURNS = 64

# Ids are hashids: letters and digits.
ID = r"([A-Za-z0-9]{1,64})"
# The longest author name the grids table holds, and the longest Idempotency-Key header.
MAX_AUTHOR_CHARS = 255
MAX_IDEMPOTENCY_KEY_CHARS = 200
# A post not stored within this many seconds is answered 503: it may still be stored, and a
# retry with the same Idempotency-Key settles which.
POST_DEADLINE_SECONDS = 30.0
POST_OUTCOME_UNKNOWN = (
    "Storing the grid took too long; it may or may not have been stored. Try again with the "
    "same Idempotency-Key header to be sure of getting one grid."
)
UNKNOWN_PARENT = FieldError("parent", "no grid with this id to remix from")
BAD_ORIGIN = FieldError(ORIGIN_HEADER, "must be scheme://host[:port], with scheme http or https")
DATABASE_UNAVAILABLE = (
    "The grid database is not reachable at the moment; nothing was changed. Try again shortly."
)

# Pages load script and style only from this server's static files; nothing inline runs, so
# markup that reached the database could not run even if it were not escaped.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'self'"
)
# Images served from stored data (SVG is a document when opened on its own): nothing runs.
IMAGE_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"


# What a listed grid's row is counted as in the cache of recent reads (its title and author
# take at most 455 characters).
LISTED_ROW_BYTES = 1024


def record_is_big(grid: service.PostedGrid) -> bool:
    """Whether the grid's record is big enough that encoding it belongs in a worker thread."""
    if grid.width * grid.height > BIG_GRID_CELLS:
        return True
    if grid.code_json is not None:
        return len(grid.code_json) > BIG_BODY_BYTES
    return sum(map(len, grid.code_cells or ())) > BIG_BODY_BYTES


class ApiError(web.HTTPError):
    """An error answered as `{"message": ..., "errors": [...]}` with a 4xx status."""

    def __init__(self, status: int, message: str, errors: list[FieldError] | None = None):
        super().__init__(status, message)
        self.message = message
        self.errors = errors or []


def error_answer(
    handler: web.RequestHandler, status_code: int, internal: str, **kwargs: Any
) -> tuple[int, str, list[dict[str, Any]]]:
    """The status, message and field errors that `handler.write_error(status_code, **kwargs)`
    answers: an ApiError's own, another HTTP error's reason, a 503 (with Retry-After) for a
    database that cannot be reached, and `internal` for anything unforeseen."""
    error = kwargs.get("exc_info", (None, None, None))[1]
    if isinstance(error, ApiError):
        if status_code == 503:
            handler.set_header("Retry-After", "5")
        return status_code, error.message, [e.to_json() for e in error.errors]
    if isinstance(error, web.HTTPError) and status_code < 500:
        return status_code, error.log_message or handler._reason, []
    if error is not None and db.unavailable(error):
        handler.set_status(503)
        handler.set_header("Retry-After", "5")
        return 503, DATABASE_UNAVAILABLE, []
    return status_code, internal, []


def write_json_error(handler: web.RequestHandler, status_code: int, **kwargs: Any) -> None:
    """Answer an error as `{"message", "errors"}`, never a traceback."""
    _, message, errors = error_answer(handler, status_code, "Internal server error", **kwargs)
    handler.set_header("Content-Type", "application/json")
    handler.finish(json.dumps({"message": message, "errors": errors}))


class BlocksMixin(ExtensionHandlerMixin):
    """Shared by the JSON, protocol and HTML handlers of jupyter-blocks.

    Their request bodies stream in (`@web.stream_request_body` on the handler classes), up to
    `body_limit` bytes: a longer one is counted as it arrives, thrown away, and refused with 413
    by the handlers that read bodies (`received_body`), or at once when the client waits for
    "100 Continue". (Tornado would otherwise buffer any body up to the server's 512 MB, and a
    handler parse it on the event loop.)
    """

    auth_resource = NAMESPACE
    csp = PAGE_CSP
    # Whether the current user may delete anyone's grid (set in `prepare`).
    moderator = False
    _body: bytearray
    _received: int
    _chunks: int
    # the timer that cuts off a chunked body still arriving long after it went over the limit
    _cut_off: asyncio.TimerHandle | None = None

    def initialize(self, name: str, *args: Any, secret: bool | None = None, **kwargs: Any) -> None:
        """`secret`: this route takes only secret (True) or only public (False) grid ids."""
        super().initialize(name, *args, **kwargs)
        self.secret_ids = secret

    @property
    def blocks(self) -> BlocksApp:
        return self.extensionapp  # type: ignore[return-value]

    @property
    def content_security_policy(self) -> str:
        return self.csp

    async def prepare(self, **kwargs: Any) -> None:
        await super().prepare(**kwargs)  # type: ignore[misc]
        self._body, self._received, self._chunks, self._cut_off = bytearray(), 0, 0, None
        request = self.request  # type: ignore[attr-defined]
        # A client that waits for "100 Continue" before it sends a body declared too large is
        # refused at once; any other is sent, so it is read to its end and thrown away: a proxy
        # in between answers 503 for a connection closed while it still sends.
        declared = request.headers.get("Content-Length", "")
        over = declared.isascii() and declared.isdigit() and int(declared) > self.body_limit
        if over and request.headers.get("Expect", "").lower() == "100-continue":
            raise self._too_large()
        assert isinstance(request.connection, HTTP1Connection), "served over HTTP/1"
        # counted here instead (`data_received`), and cut off by time, not size
        request.connection.set_max_body_size(sys.maxsize)
        user = self.current_user  # type: ignore[attr-defined]
        if user is not None:
            self.moderator = await self.blocks.is_moderator(user)

    @property
    def body_limit(self) -> int:
        return SMALL_BODY_BYTES

    def _too_large(self) -> ApiError:
        return ApiError(413, f"Request body is larger than the limit of {self.body_limit} bytes")

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self._received += len(chunk)
        if self._received <= self.body_limit:
            self._body += chunk
        elif self._cut_off is None:
            self._body = bytearray()
            self._cut_off = asyncio.get_running_loop().call_later(DRAIN_SECONDS, self._cut)
        self._chunks += 1
        return asyncio.sleep(0) if self._chunks % CHUNKS_BETWEEN_TURNS == 0 else None

    def received_body(self) -> bytes:
        """The whole request body, or a 413 when it was over the limit."""
        if self._received > self.body_limit:
            raise self._too_large()
        return bytes(self._body)

    def _cut(self) -> None:
        self.log.warning(
            "jupyter-blocks: cut off %s: its body was still arriving %d s after it went over "
            "the limit of %d bytes",
            self._request_summary(),  # type: ignore[attr-defined]
            DRAIN_SECONDS,
            self.body_limit,
        )
        self.request.connection.close()  # type: ignore[attr-defined]

    def _stop_cut_off(self) -> None:
        if self._cut_off is not None:
            self._cut_off.cancel()

    def on_finish(self) -> None:
        self._stop_cut_off()
        super().on_finish()  # type: ignore[misc]

    def on_connection_close(self) -> None:
        self._stop_cut_off()
        super().on_connection_close()  # type: ignore[misc]

    async def db_read(self, work: Callable[[Session], T], one_statement: bool = False) -> T:
        """Run `work(session)` off the event loop, in this request's read-only database session
        (`db.Database.read`). A request calls `db_read` or `db_write` once. `one_statement`:
        the work makes one statement."""
        return await self.blocks.database.read(work, one_statement)

    async def db_write(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` off the event loop, in this request's database session, which
        commits on success, rolls back on error and is always closed (`db.Database.write`)."""
        return await self.blocks.database.write(work)

    async def off_loop(self, big: bool, work: Callable[[], T]) -> T:
        """Run CPU-heavy `work` in a worker thread when `big`, else right here."""
        if not big:
            return work()
        return await asyncio.get_running_loop().run_in_executor(self.blocks.cpu_threads, work)

    @property
    def author(self) -> str:
        return self.blocks.author_for(self.current_user)  # type: ignore[attr-defined]

    def author_of_new_grid(self) -> str:
        """`author`, or a 400 when the identity provider's name for the user cannot be stored."""
        author = self.author
        problem = text_problem(author)
        if problem is None and len(author) > MAX_AUTHOR_CHARS:
            problem = f"must be at most {MAX_AUTHOR_CHARS} characters"
        if problem:
            raise ApiError(
                400, "Your user name cannot be stored with a grid", [FieldError("author", problem)]
            )
        return author

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if value is not None and db.unavailable(value):
            summary = self._request_summary()  # type: ignore[attr-defined]
            cause = str(getattr(value, "orig", None) or value).strip().splitlines()[0]
            self.log.warning("jupyter-blocks: database unavailable for %s: %s", summary, cause)
            return
        super().log_exception(typ, value, tb)  # type: ignore[misc]

    def grid_key(self, grid_id: str) -> GridKey:
        """The key behind `grid_id` (of the kind this route takes), or 404."""
        key = self.blocks.ids.decode(grid_id)
        if key is None or (self.secret_ids is not None and key.secret != self.secret_ids):
            raise ApiError(404, f"No grid with id {grid_id!r}")
        return key

    async def stored(
        self,
        grid_id: str,
        lookup: Callable[[Session, GridKey], T | None],
        kept_as: str | None = None,
    ) -> T:
        """What `lookup(session, key)` finds for the grid behind `grid_id`, or 404. The lookup
        only reads; `kept_as`: what it finds never changes while the grid exists, and may be
        served from recent reads (read_cache) under this name."""
        key = self.grid_key(grid_id)

        def read() -> Awaitable[T | None]:
            return self.db_read(lambda session: lookup(session, key), one_statement=True)

        found = await (read() if kept_as is None else self.blocks.reads.grid(kept_as, key, read))
        if found is None:
            raise ApiError(404, f"No grid with id {grid_id!r}")
        return found

    async def public_grids(
        self, limit: int, before_id: int | None, author: str | None, search: str | None
    ) -> tuple[Sequence[Row[Any]], bool]:
        """A page of public grids (`service.list_public`), maybe as recently read."""

        def read() -> Awaitable[tuple[Sequence[Row[Any]], bool]]:
            return self.db_read(
                lambda session: service.list_public(session, limit, before_id, author, search),
                one_statement=True,
            )

        found = await self.blocks.reads.view(
            ("listing", limit, before_id, author, search),
            read,
            lambda found: LISTED_ROW_BYTES * (1 + len(found[0])),
        )
        assert found is not None, "a listing is never None"
        return found

    async def find_grid(self, grid_id: str, with_data: bool = True) -> Grid:
        """The grid behind `grid_id`, or 404."""
        return await self.stored(
            grid_id, lambda session, key: service.find_grid(session, key, with_data)
        )

    def blocks_path(self, *parts: str) -> str:
        return url_path_join(self.base_url, NAMESPACE, *parts)

    @property
    def links_origin(self) -> str:
        """scheme://host[:port] of the page URLs answered to this request, "" for paths: the
        configured public URL; else the origin the request names in ORIGIN_HEADER (a kernel
        naming its user's browser's, for its own answer only); else the request's own, but
        for one sent straight to the Hub service's own address, which no browser opens."""
        configured = self.blocks.public_origin
        if configured:
            return configured
        request = self.request  # type: ignore[attr-defined]
        named = request.headers.get(ORIGIN_HEADER)
        if named is not None:
            origin = checked_origin(named)
            if origin is None:
                raise ApiError(400, f"Invalid {ORIGIN_HEADER} header", [BAD_ORIGIN])
            return origin
        if request.host.lower() in self.blocks.direct_hosts:
            return ""
        return f"{request.protocol}://{request.host}"

    @cached_property
    def records(self) -> GridRecords:
        """Grids as this request's user sees them (summaries, records, ids, page URLs); made
        once per request, after `prepare` has found who the user is."""
        return GridRecords(
            ids=self.blocks.ids,
            root=self.blocks_path(),
            origin=self.links_origin,
            viewer=self.author,
            moderator=self.moderator,
        )


@web.stream_request_body
class BlocksAPIHandler(BlocksMixin, APIHandler):
    """A JSON handler whose errors are always `{"message", "errors"}`, never a traceback."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        write_json_error(self, status_code, **kwargs)

    async def write_json(
        self, value: Any, status: int = 200, grid: service.PostedGrid | None = None
    ) -> None:
        """Answer `value` as JSON; when it holds a big `grid`, encoded off the event loop."""
        big = grid is not None and record_is_big(grid)
        parts = await self.off_loop(big, lambda: json_parts(value))
        self.set_status(status)
        await self.finish_json(*parts)

    async def finish_json(self, *parts: bytes | str | memoryview) -> None:
        """Answer the JSON made of `parts`. Tornado would hash a body for its ETag and copy it,
        on the event loop: a big one is hashed in a worker thread and sent in slices, part by
        part, never joined into one copy."""
        if sum(map(len, parts)) <= BIG_RESPONSE_BYTES:
            self.finish(b"".join(p.encode() if isinstance(p, str) else p for p in parts))
            return

        def encoded_and_hashed() -> tuple[list[bytes | memoryview], str]:
            data = [p.encode() if isinstance(p, str) else p for p in parts]
            digest = hashlib.sha1()
            for part in data:
                digest.update(part)
            return data, f'"{digest.hexdigest()}"'

        data, etag = await self.off_loop(True, encoded_and_hashed)
        self.set_header("Etag", etag)
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return
        self.set_header("Content-Type", "application/json")
        self.set_header("Content-Length", sum(map(len, data)))
        for part in data:
            with memoryview(part) as view:
                for start in range(0, len(view), BIG_RESPONSE_BYTES):
                    self.write(bytes(view[start : start + BIG_RESPONSE_BYTES]))
                    await self.flush()
        self.finish()


def posted(grid: service.StoredGrid) -> Posted:
    """The change feed's news of a stored grid (secret ones are never sent)."""
    return Posted(summary_columns(grid))


def json_parts(value: Any) -> list[bytes | memoryview]:
    """`value` as JSON, in parts: when it is a dict, its big `msgspec.Raw` members (stored JSON,
    megabytes of it, shared by every request that reads the grid) follow as they are, instead
    of being copied into one body for each request."""
    big = {}
    if isinstance(value, dict):
        big = {
            key: member
            for key, member in value.items()
            if isinstance(member, msgspec.Raw) and len(member) > BIG_RESPONSE_BYTES
        }
    if not big:
        return [msgspec.json.encode(value)]
    rest = msgspec.json.encode({key: member for key, member in value.items() if key not in big})
    parts: list[bytes | memoryview] = [rest[:-1]]  # without its closing brace
    separator = b"," if len(rest) > 2 else b""
    for key, member in big.items():
        parts += [separator + msgspec.json.encode(key) + b":", memoryview(member)]
        separator = b","
    return [*parts, b"}"]


class GridUploadHandler(BlocksAPIHandler):
    """A JSON handler that takes grid payloads, up to the configured `max_body_bytes`."""

    @property
    def body_limit(self) -> int:
        return self.blocks.max_body_bytes

    def idempotency_key(self) -> str | None:
        """The request's `Idempotency-Key` header: a retry with the same key gets the first grid."""
        key = self.request.headers.get("Idempotency-Key")
        if key is None:
            return None
        problem = text_problem(key) or (
            f"must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"
            if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_CHARS
            else None
        )
        if problem:
            raise ApiError(
                400, "Invalid Idempotency-Key header", [FieldError("Idempotency-Key", problem)]
            )
        return key

    async def post_grid(self) -> service.StoredGrid:
        """Check the request body and store it as a new grid of this request's author, or a 400
        listing what is wrong. The answer is the future of this very request's work, so it is
        this post's grid and no other's. A post not stored within POST_DEADLINE_SECONDS answers
        503: it may still be stored (a retry with its Idempotency-Key gets the one grid)."""
        body = self.received_body()
        author, idempotency_key = self.author_of_new_grid(), self.idempotency_key()
        self.records  # noqa: B018  (a bad origin header is refused before anything is stored)
        workers = self.blocks.post_workers
        if workers is not None:  # the gallery service's worker processes
            stored = asyncio.ensure_future(
                workers.store(body, author, idempotency_key, POST_DEADLINE_SECONDS)
            )
        else:
            stored = asyncio.ensure_future(self._store_here(body, author, idempotency_key))
        reads, feed = self.blocks.reads, self.blocks.feed

        def done(work: asyncio.Future[service.StoredGrid]) -> None:
            # once stored (or not), before this request goes on: reads made after it see the
            # grid, and subscribers hear of it (also of one stored after its post answered 503)
            reads.wrote()
            if not work.cancelled() and work.exception() is None:
                feed.wrote(posted(work.result()))

        stored.add_done_callback(done)
        try:
            return await asyncio.wait_for(asyncio.shield(stored), POST_DEADLINE_SECONDS + 1)
        except InvalidPayload as err:
            raise ApiError(400, err.message, err.errors) from err
        except service.UnknownParent as err:
            raise ApiError(400, "Invalid grid payload", [UNKNOWN_PARENT]) from err
        except db.OutcomeUnknown as err:
            raise ApiError(503, POST_OUTCOME_UNKNOWN) from err
        except asyncio.TimeoutError as err:
            stored.add_done_callback(self._log_late_failure)
            raise ApiError(503, POST_OUTCOME_UNKNOWN) from err

    async def _store_here(
        self, body: bytes, author: str, idempotency_key: str | None
    ) -> service.StoredGrid:
        """A post checked (a big body on a CPU thread) and stored on this server's threads."""
        validate = self.blocks.validator.validate
        new = await self.off_loop(len(body) > BIG_BODY_BYTES, lambda: validate(body))
        parent_key = None
        if new.parent is not None:
            parent_key = self.blocks.ids.decode(new.parent)
            if parent_key is None:
                raise service.UnknownParent()

        def store(session: Session) -> service.StoredGrid:
            grid = service.store_post(session, new, author, idempotency_key, parent_key)
            if not grid.secret:  # (a retry announces the first grid again: clients match ids)
                service.announce(session, "p", grid.id)
            return grid

        return await self.db_write(store)

    def _log_late_failure(self, work: asyncio.Future[Any]) -> None:
        """The outcome of a post answered 503 before it was stored (the request is gone)."""
        error = None if work.cancelled() else work.exception()
        if error is not None and not db.unavailable(error):
            self.log.error("jupyter-blocks: a post answered 503 failed later", exc_info=error)

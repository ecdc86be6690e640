"""The JSON API under `blocks/api/`, for the JupyterLab panel and scripts."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from jupyter_server.auth.decorator import authorized
from sqlalchemy.orm import Session
from tornado import web

from .. import service
from ..constants import BIG_GRID_CELLS, MAX_QUERY_CHARS
from ..ids import GridKey
from ..live import Deleted, Renamed
from ..models import Grid
from ..read_cache import ENTRY_OVERHEAD_BYTES
from ..render import grid_png
from ..text import text_problem
from ..validation import FieldError, InvalidPayload, parse_json
from .base import IMAGE_CSP, ApiError, BlocksAPIHandler, GridUploadHandler

T = TypeVar("T")

MAX_LIMIT = 100
# Thumbnails and images of a grid never change: bump these when the drawing does.
THUMBNAIL_VERSION = 1
IMAGE_VERSION = 1


class MeHandler(BlocksAPIHandler):
    """`GET blocks/api/me`: who this server says posts and owns grids for the caller, and
    whether they may delete anyone's (a moderator)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.write_json({"author": self.author, "moderator": self.moderator})


class ListingHandler(BlocksAPIHandler):
    """Query arguments shared by the listings."""

    def limit(self, default: int) -> int:
        raw = self.get_query_argument("limit", None)
        if raw is None:
            return min(default, MAX_LIMIT)
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
            raise ApiError(
                400,
                "Invalid query",
                [FieldError("limit", f"must be an integer from 1 to {MAX_LIMIT}")],
            )
        return int(raw)

    def text_argument(self, name: str) -> str | None:
        """A free-text query argument, stripped (None when empty) and bounded. Tornado already
        drops control characters from arguments and refuses undecodable ones."""
        raw = self.get_query_argument(name, "")
        if len(raw) > MAX_QUERY_CHARS:
            raise ApiError(
                400,
                "Invalid query",
                [FieldError(name, f"must be at most {MAX_QUERY_CHARS} characters")],
            )
        return raw or None


class GridsHandler(GridUploadHandler, ListingHandler):
    """`GET blocks/api/grids`: public grids newest first (`author=`, `q=` to filter);
    `POST`: store one (201)."""

    def _cursor(self) -> int | None:
        raw = self.get_query_argument("cursor", None)
        if not raw:
            return None
        key = self.blocks.ids.decode(raw)
        if key is None or key.secret:
            raise ApiError(400, "Invalid query", [FieldError("cursor", "not a cursor we issued")])
        return key.row_id

    @web.authenticated
    @authorized
    async def get(self) -> None:
        limit, before_id = self.limit(self.blocks.page_size), self._cursor()
        author = self.get_query_argument("author", None) or None
        search = self.text_argument("q")
        grids, more = await self.public_grids(limit, before_id, author, search)
        records = self.records
        await self.write_json(
            {
                "items": records.summaries(grids),
                "next": records.grid_id(grids[-1]) if more else None,
            }
        )

    @web.authenticated
    @authorized
    async def post(self) -> None:
        grid = await self.post_grid()
        records = self.records
        self.set_header("Location", records.path("api", "grids", records.grid_id(grid)))
        await self.write_json(records.record(grid), status=201, grid=grid)


def parse_title_patch(body: bytes, max_chars: int) -> str | None:
    """The new title from a PATCH body `{"title": str | null}` (empty means none)."""
    document = parse_json(body)
    if not isinstance(document, dict) or set(document) != {"title"}:
        raise InvalidPayload("Invalid grid change", [FieldError("", 'must be {"title": ...}')])
    title = document["title"]
    if title is None:
        return None
    if not isinstance(title, str):
        raise InvalidPayload("Invalid grid change", [FieldError("title", "must be text or null")])
    problem = text_problem(title)
    if len(title) > max_chars:
        problem = f"must be at most {max_chars} characters"
    if problem:
        raise InvalidPayload("Invalid grid change", [FieldError("title", problem)])
    return title.strip() or None


def _record_size(found: tuple[Grid, service.Remixes]) -> int:
    """What a grid read for its record holds, in bytes (read_cache)."""
    grid, remixes = found
    loaded = vars(grid)  # (a record without blocks did not load the grid's JSON)
    held = [loaded.get(name) or "" for name in ("grid_json", "code_json", "title", "author")]
    return ENTRY_OVERHEAD_BYTES * (1 + len(remixes)) + sum(map(len, held))


class GridHandler(BlocksAPIHandler):
    """`GET blocks/api/grids/<id>`: the whole grid with its remixes; `PATCH`: rename it and
    `DELETE`: remove it (its author only). Both answer the record, without the blocks when
    asked with `?blocks=false` (a client drawing them from the pixels)."""

    def with_blocks(self) -> bool:
        raw = self.get_query_argument("blocks", "true")
        if raw not in ("true", "false"):
            raise ApiError(400, "Invalid query", [FieldError("blocks", "must be true or false")])
        return raw == "true"

    async def write_record(self, grid: Grid, remixes: service.Remixes, blocks: bool) -> None:
        await self.write_json(self.records.record(grid, remixes, blocks), grid=grid)

    @web.authenticated
    @authorized
    async def get(self, grid_id: str) -> None:
        key, blocks = self.grid_key(grid_id), self.with_blocks()

        def grid_and_remixes(session: Session) -> tuple[Grid, service.Remixes] | None:
            grid = service.find_grid(session, key, with_blocks=blocks)
            return None if grid is None else (grid, service.remixes(session, grid.id))

        def read() -> Awaitable[tuple[Grid, service.Remixes] | None]:
            return self.db_read(grid_and_remixes, one_statement=True)

        found = await self.blocks.reads.view(("record", key, blocks), read, _record_size)
        if found is None:
            raise ApiError(404, f"No grid with id {grid_id!r}")
        await self.write_record(*found, blocks)

    @web.authenticated
    @authorized
    async def patch(self, grid_id: str) -> None:
        key, author, blocks = self.grid_key(grid_id), self.author, self.with_blocks()
        try:
            title = parse_title_patch(self.received_body(), self.blocks.max_title_chars)
        except InvalidPayload as err:
            raise ApiError(400, err.message, err.errors) from err

        def rename_if_owned(session: Session) -> tuple[Grid, service.Remixes]:
            grid = service.find_grid(session, key, with_blocks=blocks)
            if grid is None:
                raise ApiError(404, f"No grid with id {grid_id!r}")
            if grid.author != author:
                raise ApiError(403, f"Only {grid.author} can rename this grid")
            service.rename_grid(session, grid, title)
            if not grid.secret:
                service.announce(session, "r", grid.id)
            return grid, service.remixes(session, grid.id)

        try:
            grid, remixes = await self.db_write(rename_if_owned)
        finally:
            self.blocks.reads.wrote()
        if not grid.secret:
            self.blocks.feed.wrote(Renamed(grid.id, grid.title))
        await self.write_record(grid, remixes, blocks)

    @web.authenticated
    @authorized
    async def delete(self, grid_id: str) -> None:
        key, author, may_delete = self.grid_key(grid_id), self.author, self.records.may_delete

        def delete_if_owned(session: Session) -> None:
            grid = service.find_grid(session, key, with_data=False)
            if grid is None:
                raise ApiError(404, f"No grid with id {grid_id!r}")
            if not may_delete(grid.author):
                raise ApiError(403, f"Only {grid.author} or a moderator can delete this grid")
            service.delete_grid(session, grid, deleted_by=author)
            if not grid.secret:
                service.announce(session, "d", grid.id)

        try:
            await self.db_write(delete_if_owned)
        finally:
            self.blocks.reads.wrote(deleted=key)
        if not key.secret:
            self.blocks.feed.wrote(Deleted(key.row_id))
        self.set_status(204)
        self.finish()


class AuthorsHandler(ListingHandler):
    """`GET blocks/api/authors?q=<prefix>&limit=`: authors of public grids, for suggestions."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        prefix, limit = self.text_argument("q") or "", self.limit(10)
        names = await self.db_read(lambda session: service.authors(session, prefix, limit))
        await self.write_json({"items": names})


class CachedImageHandler(BlocksAPIHandler):
    """An image of a grid, which never changes: cacheable for a day, revalidated by ETag."""

    csp = IMAGE_CSP

    async def unless_cached(
        self,
        grid_id: str,
        version: int,
        lookup: Callable[[Session, GridKey], T | None],
        kept_as: str,
    ) -> T | None:
        """What `lookup` finds for the grid (404 if nothing), or None once a 304 answered a
        browser that holds this `version` of the grid's image already (ids are never reused,
        so an id and a version name one image)."""
        self.grid_key(grid_id)  # a 404 for an id of the wrong kind, even when cached
        self.set_header("ETag", f'"{grid_id}-{version}"')
        self.set_header("Cache-Control", "private, max-age=86400")
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return None
        return await self.stored(grid_id, lookup, kept_as)


class ThumbnailHandler(CachedImageHandler):
    """`GET blocks/api/grids/<id>/thumbnail.svg`: a small image, cacheable by ETag."""

    @web.authenticated
    @authorized
    async def get(self, grid_id: str) -> None:
        # A 404 also for a deleted grid a browser still holds a picture of.
        svg = await self.stored(grid_id, service.thumbnail, kept_as="thumbnail")
        # Browsers ask again each time (a 304 is cheap), so none keeps a deleted grid's picture,
        # and the ETag is the picture's own hash, so none keeps another grid's under its id.
        digest = hashlib.blake2b(svg.encode(), digest_size=12).hexdigest()
        self.set_header("ETag", f'"{digest}-{THUMBNAIL_VERSION}"')
        self.set_header("Cache-Control", "private, no-cache")
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return
        self.finish(svg, set_content_type="image/svg+xml")


class ImageHandler(CachedImageHandler):
    """`GET blocks/api/grids/<id>/image.png`: the grid as ipythonblocks draws it (block size,
    grid lines on or off), cacheable by ETag. Big grids are drawn off the event loop."""

    @web.authenticated
    @authorized
    async def get(self, grid_id: str) -> None:
        source = await self.unless_cached(
            grid_id, IMAGE_VERSION, service.grid_image_source, kept_as="image"
        )
        if source is None:
            return
        big = source[0] * source[1] > BIG_GRID_CELLS
        png = await self.off_loop(big, lambda: grid_png(*source))
        self.set_header("Content-Disposition", f'inline; filename="grid-{grid_id}.png"')
        self.finish(png, set_content_type="image/png")


class ApiNotFoundHandler(BlocksAPIHandler):
    """Any other path under `blocks/api/`: a JSON 404 in the API's error shape."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        raise ApiError(404, f"There is no API endpoint at {self.request.path}")

    post = patch = delete = get

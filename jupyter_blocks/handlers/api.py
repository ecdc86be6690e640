"""The JSON API under `blocks/api/`, for the JupyterLab panel and scripts."""

from __future__ import annotations

import hashlib

from jupyter_server.auth.decorator import authorized
from sqlalchemy.orm import Session
from tornado import web

from .. import service
from ..validation import FieldError
from .base import ApiError, BlocksAPIHandler, GridUploadHandler

MAX_LIMIT = 100
# Thumbnails of a grid never change: bump this when the drawing does, to refresh caches.
THUMBNAIL_VERSION = 1


class MeHandler(BlocksAPIHandler):
    """`GET blocks/api/me`: who this server says posts and owns grids for the caller."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.write_json({"author": self.author})


class GridsHandler(GridUploadHandler):
    """`GET blocks/api/grids`: public grids newest first; `POST`: store one (201)."""

    def _limit(self) -> int:
        raw = self.get_query_argument("limit", None)
        if raw is None:
            return min(self.blocks.page_size, MAX_LIMIT)
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
            raise ApiError(
                400,
                "Invalid query",
                [FieldError("limit", f"must be an integer from 1 to {MAX_LIMIT}")],
            )
        return int(raw)

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
        limit, before_id = self._limit(), self._cursor()
        author = self.get_query_argument("author", None) or None
        grids, more = await self.db(
            lambda session: service.list_public(session, limit, before_id, author)
        )
        await self.write_json(
            {
                "items": [self.summary(grid) for grid in grids],
                "next": self.grid_id(grids[-1]) if more else None,
            }
        )

    @web.authenticated
    @authorized
    async def post(self) -> None:
        new = await self.validate_payload(allow_title=True)
        author, key = self.author_of_new_grid(), self.idempotency_key()
        grid = await self.db(lambda session: service.create_grid_once(session, new, author, key))
        self.set_header("Location", self.blocks_path("api", "grids", self.grid_id(grid)))
        await self.write_json(self.record(grid), status=201, grid=grid)


class GridHandler(BlocksAPIHandler):
    """`GET blocks/api/grids/<id>`: the whole grid; `DELETE`: remove it (its author only)."""

    @web.authenticated
    @authorized
    async def get(self, grid_id: str) -> None:
        grid = await self.find_grid(grid_id)
        await self.write_json(self.record(grid), grid=grid)

    @web.authenticated
    @authorized
    async def delete(self, grid_id: str) -> None:
        key, author = self.grid_key(grid_id), self.author

        def delete_if_owned(session: Session) -> None:
            grid = service.find_grid(session, key, with_data=False)
            if grid is None:
                raise ApiError(404, f"No grid with id {grid_id!r}")
            if grid.author != author:
                raise ApiError(403, f"Only {grid.author} can delete this grid")
            service.delete_grid(session, grid)

        await self.db(delete_if_owned)
        self.set_status(204)
        self.finish()


class ThumbnailHandler(BlocksAPIHandler):
    """`GET blocks/api/grids/<id>/thumbnail.svg`: a small image, cacheable by ETag."""

    @web.authenticated
    @authorized
    async def get(self, grid_id: str) -> None:
        key = self.grid_key(grid_id)
        svg = await self.db(lambda session: service.thumbnail(session, key))
        if svg is None:  # also for a deleted grid a browser still holds a picture of
            raise ApiError(404, f"No grid with id {grid_id!r}")
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

"""The JSON API under `blocks/api/`, for the JupyterLab panel and scripts."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from sqlalchemy.orm import Session
from tornado import web

from .. import service
from ..validation import FieldError
from .base import IMAGE_CSP, ApiError, BlocksAPIHandler, GridUploadHandler

MAX_LIMIT = 100
# Thumbnails of a grid never change: bump this when the drawing does, to refresh caches.
THUMBNAIL_VERSION = 1


class MeHandler(BlocksAPIHandler):
    """`GET blocks/api/me`: who this server says posts and owns grids for the caller, and
    whether they may delete anyone's (a moderator)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.write_json({"author": self.author, "moderator": self.moderator})


class GridsHandler(GridUploadHandler):
    """`GET blocks/api/grids`: public grids newest first; `POST`: store one (201)."""

    def _limit(self) -> int:
        raw = self.get_query_argument("limit", None)
        if raw is None:
            return min(self.blocks.page_size, MAX_LIMIT)
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
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
        new, author = await self.validate_payload(allow_title=True), self.author
        grid = await self.db(lambda session: service.create_grid(session, new, author))
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
        key, author, may_delete = self.grid_key(grid_id), self.author, self.may_delete

        def delete_if_owned(session: Session) -> None:
            grid = service.find_grid(session, key, with_data=False)
            if grid is None:
                raise ApiError(404, f"No grid with id {grid_id!r}")
            if not may_delete(grid.author):
                raise ApiError(403, f"Only {grid.author} or a moderator can delete this grid")
            service.delete_grid(session, grid, deleted_by=author)

        await self.db(delete_if_owned)
        self.set_status(204)
        self.finish()


class ThumbnailHandler(BlocksAPIHandler):
    """`GET blocks/api/grids/<id>/thumbnail.svg`: a small image, cacheable by ETag."""

    csp = IMAGE_CSP

    @web.authenticated
    @authorized
    async def get(self, grid_id: str) -> None:
        key = self.grid_key(grid_id)
        etag = f'"{grid_id}-{THUMBNAIL_VERSION}"'
        self.set_header("ETag", etag)
        self.set_header("Cache-Control", "private, max-age=86400")
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return
        svg = await self.db(lambda session: service.thumbnail(session, key))
        if svg is None:
            raise ApiError(404, f"No grid with id {grid_id!r}")
        self.finish(svg, set_content_type="image/svg+xml")

"""The ipythonblocks.org protocol, as the stock `ipythonblocks` client speaks it."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .. import service
from .base import ApiError, BlocksAPIHandler, GridUploadHandler


class PostHandler(GridUploadHandler):
    """`POST blocks/post`: store a grid, answer `{"url": <its page>}` (ipythonblocks.org did)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        # The stock client sends neither a title nor a parent; jupyter_blocks' client sends both.
        grid = await self.post_grid()
        await self.write_json({"url": self.records.page_url(grid)})


class GetGridDataHandler(BlocksAPIHandler):
    """`GET blocks/get/<id>` and `GET blocks/get/secret/<id>`: the stored `grid_data`."""

    @web.authenticated
    @authorized
    async def get(self, grid_id: str) -> None:
        # the JSON stored when it was posted, as it is
        await self.finish_json(await self.stored(grid_id, service.grid_json, kept_as="json"))


class RandomHandler(BlocksAPIHandler):
    """`GET blocks/random`: 303 to a random public grid's page, 404 when there is none."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        row_id = await self.db_read(service.random_public_id, one_statement=True)
        if row_id is None:
            raise ApiError(404, "No public grids have been posted yet")
        self.redirect(self.blocks_path(self.blocks.ids.public(row_id)), status=303)

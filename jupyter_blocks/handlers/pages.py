"""HTML pages: one per grid, and the gallery. They work without JupyterLab."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerJinjaMixin
from tornado import httputil, web

from .. import db, service
from ..render import CODE_STYLE, grid_table
from .base import BIG_GRID_CELLS, DATABASE_UNAVAILABLE, ApiError, BlocksMixin, as_utc


class BlocksPageHandler(BlocksMixin, ExtensionHandlerJinjaMixin, JupyterHandler):
    """Renders jupyter-blocks templates; errors are pages too, with no server internals."""

    @property
    def gallery_path(self) -> str:
        return self.blocks_path() + "/"

    def page_namespace(self) -> dict[str, Any]:
        return {
            "gallery_url": self.gallery_path,
            "css_url": self.static_url("blocks.css"),
            "code_css": CODE_STYLE,
        }

    def page(self, template: str, **namespace: Any) -> str:
        return self.get_template(template).render(**self.page_namespace(), **namespace)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            message = error.message
        elif isinstance(error, web.HTTPError) and status_code < 500:
            message = error.log_message or self._reason
        elif error is not None and db.unavailable(error):
            status_code = 503
            self.set_status(status_code)
            self.set_header("Retry-After", "5")
            message = DATABASE_UNAVAILABLE
        else:
            message = "Something went wrong on the server; the error has been logged."
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(self.page("blocks/error.html", status=status_code, message=message))


class GridPageHandler(BlocksPageHandler):
    """`GET blocks/<id>` and `GET blocks/secret/<id>`: the grid, its code, author and date."""

    @web.authenticated
    @authorized
    async def get(self, grid_id: str) -> None:
        key = self.grid_key(grid_id)
        found = await self.db(lambda session: service.grid_for_page(session, key))
        if found is None:
            raise ApiError(404, f"No grid with id {grid_id!r}")
        grid, code_json = found
        template, common = self.get_template("blocks/grid.html"), self.page_namespace()

        def draw() -> bytes:  # encoded here too: megabytes of code take a while
            return template.render(
                **common,
                grid=grid,
                grid_id=grid_id,
                created=as_utc(grid.created_at),
                table=grid_table(grid.grid_data),
                code_cells=self.blocks.code_cache.code(grid.id, code_json),
            ).encode()

        # A big grid is a big table, and decoding and highlighting code takes a while.
        html = await self.off_loop(
            grid.width * grid.height > BIG_GRID_CELLS or code_json not in (None, "null"), draw
        )
        self.finish(html)


class GalleryPageHandler(BlocksPageHandler):
    """`GET blocks/`: public grids newest first, `?author=` to filter, `?cursor=` to page on."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        author = self.get_query_argument("author", None) or None
        cursor = self.get_query_argument("cursor", None)
        key = self.blocks.ids.decode(cursor) if cursor else None
        before_id = key.row_id if key and not key.secret else None
        page_size = self.blocks.page_size
        grids, more = await self.db(
            lambda session: service.list_public(session, page_size, before_id, author)
        )
        older = None
        if more:
            query = {"cursor": self.grid_id(grids[-1]), **({"author": author} if author else {})}
            older = httputil.url_concat(self.gallery_path, query)
        self.finish(
            self.page(
                "blocks/gallery.html",
                cards=[self.summary(grid) for grid in grids],
                author=author,
                older_url=older,
                first_page=cursor is None,
            )
        )

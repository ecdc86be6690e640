"""HTML pages: one per grid, the gallery, and errors. They work without JupyterLab; their only
script is the static `blocks.js` (no inline script)."""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerJinjaMixin
from jupyter_server.utils import url_path_join
from sqlalchemy.orm import Session
from tornado import httputil, web

from .. import service
from ..constants import MAX_QUERY_CHARS
from ..ids import GridKey
from ..render import PAGE_CODE_CHARS, PageCode, code_style, grid_drawing
from .base import ApiError, BlocksMixin, error_answer
from .records import as_utc


@web.stream_request_body
class BlocksPageHandler(BlocksMixin, ExtensionHandlerJinjaMixin, JupyterHandler):
    """Renders jupyter-blocks templates; errors are pages too, with no server internals."""

    @property
    def links_origin(self) -> str:
        """Pages link grids by paths, which the browser resolves against the address it opened
        the page at: nothing of a request's Host is in a page that another request is served
        (from recent reads)."""
        return ""

    @property
    def gallery_path(self) -> str:
        return self.blocks_path() + "/"

    @property
    def lab_url(self) -> str:
        """Where "Open in JupyterLab" goes: this server's JupyterLab, or on the JupyterHub gallery
        service (which is no one's server) the Hub's redirect to the viewer's own."""
        if self.blocks.hub_service:
            hub_prefix = os.environ.get("JUPYTERHUB_BASE_URL") or "/"
            subdomain_host = getattr(self.identity_provider, "subdomain_host", "")
            if subdomain_host:  # the service has a host of its own: the link goes to the Hub's
                hub_prefix = subdomain_host.rstrip("/") + hub_prefix
            return url_path_join(hub_prefix, "hub", "user-redirect", "lab")
        return url_path_join(self.base_url, "lab")

    def page_namespace(self) -> dict[str, Any]:
        return {
            "gallery_url": self.gallery_path,
            "random_url": self.blocks_path("random"),
            "lab_url": self.lab_url,
            "css_url": self.static_url("blocks.css"),
            "js_url": self.static_url("blocks.js"),
            "events_url": self.blocks_path("api", "events"),
            "code_css": code_style(),
        }

    def page(self, template: str, **namespace: Any) -> str:
        return self.get_template(template).render(**self.page_namespace(), **namespace)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        status_code, message, _ = error_answer(
            self,
            status_code,
            "Something went wrong on the server; the error has been logged.",
            **kwargs,
        )
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(self.page("blocks/error.html", status=status_code, message=message))


class GridPageHandler(BlocksPageHandler):
    """`GET blocks/<id>` and `GET blocks/secret/<id>`: the grid, its code, author and date, the
    grid it was remixed from and its remixes."""

    @web.authenticated
    @authorized
    async def get(self, grid_id: str) -> None:
        key = self.grid_key(grid_id)
        page = await self.blocks.reads.view(("page", key), lambda: self.rendered(key, grid_id))
        if page is None:
            raise ApiError(404, f"No grid with id {grid_id!r}")
        self.finish(page)

    async def rendered(self, key: GridKey, grid_id: str) -> str | None:
        """The page of the grid behind `key`, or None when there is none."""
        code_cache = self.blocks.code_cache
        cached_code = code_cache.get(key.row_id)

        def grid_and_remixes(
            session: Session,
        ) -> tuple[service.PageGrid, PageCode, service.Remixes] | None:
            grid = service.grid_for_page(session, key)
            if grid is None:
                return None
            code = cached_code or service.page_code(session, grid.id, PAGE_CODE_CHARS)
            return grid, code, service.remixes(session, grid.id)

        # Only reads; without the code, which is cut in a savepoint, no transaction is needed.
        found = await self.db_read(grid_and_remixes, one_statement=cached_code is not None)
        if found is None:
            return None
        grid, code, remixes = found
        if cached_code is None:  # highlighting takes a while (nothing, without code)
            stored = code
            big = bool(stored.cells)
            code = await self.off_loop(big, lambda: code_cache.highlighted(grid.id, stored))
        parent = grid.parent
        pixels_url = self.blocks_path("api", "grids", grid_id, "pixels")
        return self.page(
            "blocks/grid.html",
            grid=grid,
            grid_id=grid_id,
            created=as_utc(grid.created_at),
            drawing=grid_drawing(grid, pixels_url, self.static_url("grid.js")),
            code=code,
            record_url=self.blocks_path("api", "grids", grid_id),
            parent=parent and self.records.link(parent),
            remixes=[self.records.link(remix) for remix in remixes],
            image_url=self.blocks_path("api", "grids", grid_id, "image.png"),
        )


class GalleryPageHandler(BlocksPageHandler):
    """`GET blocks/`: public grids newest first; `?q=` searches titles and authors, `?author=`
    filters, `?cursor=` pages on."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        author = self.get_query_argument("author", None) or None
        q = self.get_query_argument("q", "")[:MAX_QUERY_CHARS] or None
        cursor = self.get_query_argument("cursor", None)
        key = self.blocks.ids.decode(cursor) if cursor else None
        before_id = key.row_id if key and not key.secret else None
        page_size = self.blocks.page_size
        grids, more = await self.public_grids(page_size, before_id, author, q)
        filters = {name: value for name, value in (("q", q), ("author", author)) if value}
        older = None
        if more:
            older = httputil.url_concat(
                self.gallery_path, {**filters, "cursor": self.records.grid_id(grids[-1])}
            )
        self.finish(
            self.page(
                "blocks/gallery.html",
                cards=self.records.summaries(grids),
                author=author,
                q=q,
                newest_url=httputil.url_concat(self.gallery_path, filters),
                older_url=older,
                first_page=cursor is None,
            )
        )


# Grids the class wall shows at most (a projector shows a few dozen big thumbnails).
WALL_SIZE = 48


class WallPageHandler(BlocksPageHandler):
    """`GET blocks/wall`: the class wall, the newest public grids as a live mosaic for a
    projector (wall.js keeps it live); `?q=` and `?author=` filter it. The panel shows it in an
    iframe of the same origin (`frame-ancestors 'self'`)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        author = self.get_query_argument("author", "")[:MAX_QUERY_CHARS] or None
        q = self.get_query_argument("q", "")[:MAX_QUERY_CHARS] or None
        grids, _ = await self.public_grids(WALL_SIZE, None, author, q)
        self.finish(
            self.page(
                "blocks/wall.html",
                tiles=self.records.summaries(grids),
                author=author,
                q=q,
                wall_size=WALL_SIZE,
                wall_css_url=self.static_url("wall.css"),
                wall_js_url=self.static_url("wall.js"),
                grids_url=self.blocks_path("api", "grids"),
            )
        )


class NotFoundPageHandler(BlocksPageHandler):
    """Any other path under `blocks/`: the 404 page, with a way back to the gallery."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        raise ApiError(404, f"There is no page at {self.request.path}")

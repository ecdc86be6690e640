"""`GET blocks/api/grids/<id>/pixels`: a grid's blocks, packed, for drawing on a canvas."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .. import service
from .api import CachedImageHandler

# The packing never changes for a stored grid: bump this when it does, to refresh caches.
PIXELS_VERSION = 1


class PixelsHandler(CachedImageHandler):
    """The zlib-compressed bytes made when the grid was stored (red, green, blue, size per
    block, rows top first; see render.pack_pixels), served as they are: already compressed,
    so no response compression spends time on them. Grid pages draw big grids from these
    (static/grid.js). Public and secret ids both work, as for the grid's record."""

    @web.authenticated
    @authorized
    async def get(self, grid_id: str) -> None:
        pixels = await self.unless_cached(grid_id, PIXELS_VERSION, service.pixels, "pixels")
        if pixels is not None:
            self.finish(pixels, set_content_type="application/octet-stream")

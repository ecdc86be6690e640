"""The routes of jupyter-blocks, relative to the server's base_url (ExtensionApp prefixes it)."""

from __future__ import annotations

from typing import Any

from ..constants import NAMESPACE
from ..kernel_env import BROWSER_ORIGIN_PATH
from .api import (
    ApiNotFoundHandler,
    AuthorsHandler,
    GridHandler,
    GridsHandler,
    ImageHandler,
    MeHandler,
    ThumbnailHandler,
)
from .base import ID
from .live import EventsHandler
from .origin import BrowserOriginHandler
from .pages import GalleryPageHandler, GridPageHandler, NotFoundPageHandler, WallPageHandler
from .pixels import PixelsHandler
from .protocol import GetGridDataHandler, PostHandler, RandomHandler
from .redirect import ServiceRedirectHandler
from .session import SessionPageHandler


def routes() -> list[tuple[Any, ...]]:
    """Specific paths first: `blocks/<id>` would match any single segment."""
    at = f"{NAMESPACE}/"
    return [
        (rf"{at}api/me", MeHandler),
        (rf"{at}api/events", EventsHandler),
        (rf"{at}session", SessionPageHandler),
        (rf"{at}api/grids", GridsHandler),
        (rf"{at}api/authors", AuthorsHandler),
        (rf"{at}api/grids/{ID}/thumbnail\.svg", ThumbnailHandler),
        (rf"{at}api/grids/{ID}/image\.png", ImageHandler),
        (rf"{at}api/grids/{ID}/pixels", PixelsHandler),
        (rf"{at}api/grids/{ID}", GridHandler),
        (rf"{at}post", PostHandler),
        (rf"{at}random", RandomHandler),
        (rf"{at}wall", WallPageHandler),
        (rf"{at}get/secret/{ID}", GetGridDataHandler, {"secret": True}),
        (rf"{at}get/{ID}", GetGridDataHandler, {"secret": False}),
        (rf"{at}secret/{ID}", GridPageHandler, {"secret": True}),
        (rf"{NAMESPACE}/?", GalleryPageHandler),
        (rf"{at}{ID}", GridPageHandler, {"secret": False}),
        (rf"{at}api/.*", ApiNotFoundHandler),
        (rf"{at}.*", NotFoundPageHandler),
    ]


def service_redirects() -> list[tuple[Any, ...]]:
    """A user's server that a JupyterHub gallery service keeps the grids for: its own origin
    for its kernels (no grid id has a hyphen), every other blocks/ URL redirects."""
    return [
        (rf"{NAMESPACE}/{BROWSER_ORIGIN_PATH}", BrowserOriginHandler),
        (rf"{NAMESPACE}(/.*)?", ServiceRedirectHandler),
    ]

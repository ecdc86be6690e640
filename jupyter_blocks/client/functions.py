"""What `jupyter_blocks.client` offers beyond ipythonblocks: titles, loading by page URL, the
gallery."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from ipythonblocks import BlockGrid, ImageGrid

from .connection import current
from .errors import BlocksError
from .patch import CellSpec, grid_from_data, grid_payload

_GRID_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def post(
    grid: BlockGrid,
    title: str | None = None,
    code_cells: CellSpec | None = None,
    secret: bool = False,
) -> str:
    """Store `grid` (a BlockGrid or ImageGrid) on the server and return the URL of its page.
    `title` (default: the notebook's name and the cell number), `code_cells` and `secret` are
    those of `grid.post_to_web()`."""
    payload = grid_payload(grid, code_cells, secret, title)
    response = current().transport.request("POST", "api/grids", links=True, json=payload)
    return str(response.json()["url"])


def load(id_or_url: str, secret: bool | None = None) -> BlockGrid:
    """The grid stored under `id_or_url`: an id, or a page URL `.../blocks/<id>` or
    `.../blocks/secret/<id>` (looked up on the server this kernel is connected to).

    Gives a BlockGrid or an ImageGrid (with its stored origin) as it was posted; posting it
    again records it as a remix of this one. `secret` (default: what the URL says, else either)
    insists that the grid is, or is not, secret.
    """
    grid_id, secret_in_url = parse_grid_reference(id_or_url)
    if secret is None:
        secret = secret_in_url
    path = "api/grids/" + urllib.parse.quote(grid_id, safe="")
    record = current().transport.request("GET", path).json()
    if secret is not None and record["secret"] != secret:
        kind = "secret" if secret else "public"
        raise BlocksError(f"Grid {grid_id} is not a {kind} grid.")
    cls = ImageGrid if record["ipb_class"] == "ImageGrid" else BlockGrid
    return grid_from_data(cls, record["grid_data"], parent=grid_id)


def gallery(
    limit: int | None = None, author: str | None = None, search: str | None = None
) -> list[dict[str, Any]]:
    """Summaries of the newest public grids (dicts as in `GET blocks/api/grids`), at most
    `limit` (server's page size by default, 100 at most), only `author`'s if given, only those
    whose title or author contains `search` if given."""
    params = {
        name: value
        for name, value in (("limit", limit), ("author", author), ("q", search))
        if value is not None
    }
    response = current().transport.request("GET", "api/grids", links=True, params=params)
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def parse_grid_reference(id_or_url: str) -> tuple[str, bool | None]:
    """`(grid id, secret)` from an id (secret unknown: None) or a grid page URL or path
    (`.../blocks/<id>`: False, `.../blocks/secret/<id>`: True). ValueError for anything else."""
    text = id_or_url.strip()
    if not text:
        raise ValueError("The grid id is empty: pass a grid id or a grid page URL.")
    if _GRID_ID.fullmatch(text):
        return text, None
    segments = [
        urllib.parse.unquote(segment)
        for segment in urllib.parse.urlsplit(text).path.split("/")
        if segment
    ]
    if len(segments) >= 3 and segments[-3] == "blocks" and segments[-2] == "secret":
        grid_id, secret = segments[-1], True
    elif len(segments) >= 2 and segments[-2] == "blocks":
        grid_id, secret = segments[-1], False
    else:
        raise ValueError(
            f"{id_or_url!r} is neither a grid id nor a grid page URL "
            "(.../blocks/<id> or .../blocks/secret/<id>)."
        )
    if not _GRID_ID.fullmatch(grid_id):
        raise ValueError(f"{grid_id!r} in {id_or_url!r} is not a grid id.")
    return grid_id, secret

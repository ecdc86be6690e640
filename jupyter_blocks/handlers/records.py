"""Grids as the JSON API and the pages show them to one viewer: ids, page URLs, summaries and
whole records. Knows URLs and the viewer, not HTTP handlers or SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import msgspec
from jupyter_server.utils import url_path_join

from ..ids import GridIds
from ..models import Grid


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class GridRecords:
    """How one request's viewer sees grids.

    `root`: the absolute path of the `blocks/` URLs; `origin`: scheme://host[:port] of page
    URLs; `viewer`: the author name of the request's user; `moderator`: whether they may
    delete anyone's grid.
    """

    ids: GridIds
    root: str
    origin: str
    viewer: str
    moderator: bool

    def path(self, *parts: str) -> str:
        return url_path_join(self.root, *parts)

    def grid_id(self, grid: Grid) -> str:
        return self.ids.for_row(grid.id, grid.secret_nonce)

    def may_delete(self, author: str) -> bool:
        """Authors delete their own grids; moderators anyone's."""
        return author == self.viewer or self.moderator

    def page_url(self, grid: Grid, grid_id: str | None = None) -> str:
        """The absolute URL of the grid's page (`grid_id`: its id, when already encoded)."""
        grid_id = grid_id or self.grid_id(grid)
        path = self.path("secret", grid_id) if grid.secret else self.path(grid_id)
        return f"{self.origin}{path}"

    def link(self, grid: Grid) -> dict[str, Any]:
        """What a page or record shows of a related grid (a parent, a remix)."""
        return {"url": self.page_url(grid), "title": grid.title, "author": grid.author}

    def summary(self, grid: Grid) -> dict[str, Any]:
        grid_id = self.grid_id(grid)
        return {
            "id": grid_id,
            "secret": grid.secret,
            "url": self.page_url(grid, grid_id),
            "thumbnail_url": self.path("api", "grids", grid_id, "thumbnail.svg"),
            "author": grid.author,
            "title": grid.title,
            "created": as_utc(grid.created_at).isoformat(),
            "ipb_class": grid.ipb_class,
            "width": grid.width,
            "height": grid.height,
            "owned": grid.author == self.viewer,
            "can_delete": self.may_delete(grid.author),
            # A secret parent's id would give its secret away: it shows as none.
            "parent": self.grid_id(grid.parent) if grid.parent and not grid.parent.secret else None,
        }

    def record(
        self, grid: Grid, remixes: list[Grid] | None = None, blocks: bool = True
    ) -> dict[str, Any]:
        """The whole grid; `remixes`: the public grids remixed from it (`service.remixes`).
        Without `blocks`, `grid_data` holds only the grid's shape and lines, from the row's own
        columns: for clients that draw the blocks from `api/grids/<id>/pixels`."""
        return {
            **self.summary(grid),
            # the JSON stored when the grid was posted, spliced in as it is
            "grid_data": msgspec.Raw(grid.grid_json)
            if blocks
            else {"lines_on": grid.lines_on, "width": grid.width, "height": grid.height},
            # the code as stored when it was loaded as JSON text (`service.find_grid`)
            "code_cells": grid.code_cells
            if grid.code_json is None
            else msgspec.Raw(grid.code_json),
            "ipb_version": grid.ipb_version,
            "python_version": grid.python_version,
            "remixes": [{"id": self.grid_id(remix), **self.link(remix)} for remix in remixes or []],
        }

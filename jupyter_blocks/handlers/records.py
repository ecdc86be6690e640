"""Grids as the JSON API and the pages show them to one viewer: ids, page URLs, summaries and
whole records. Knows URLs and the viewer, not HTTP handlers or SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import msgspec
from jupyter_server.utils import url_path_join
from sqlalchemy import Row

from ..ids import GridIds
from ..service import Linked, PostedGrid

# A grid as a listing or a page reads it: the model, or a row of the columns needed
# (`service.list_public`, `service.remixes`), or as a post stored it.
GridLike = PostedGrid | Row[Any] | Linked


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

    @cached_property
    def _public_pages(self) -> str:
        """What a public grid's page URL is its id appended to (a listing makes dozens)."""
        return f"{self.origin}{self.path()}/"

    @cached_property
    def _secret_pages(self) -> str:
        return f"{self.origin}{self.path('secret')}/"

    @cached_property
    def _thumbnails(self) -> str:
        return self.path("api", "grids") + "/"

    def grid_id(self, grid: GridLike) -> str:
        return self.ids.for_row(grid.id, grid.secret_nonce)

    def may_delete(self, author: str) -> bool:
        """Authors delete their own grids; moderators anyone's."""
        return author == self.viewer or self.moderator

    def page_url(self, grid: GridLike, grid_id: str | None = None) -> str:
        """The absolute URL of the grid's page (`grid_id`: its id, when already encoded)."""
        grid_id = grid_id or self.grid_id(grid)
        return (self._secret_pages if grid.secret else self._public_pages) + grid_id

    def link(self, grid: GridLike) -> dict[str, Any]:
        """What a page or record shows of a related grid (a parent, a remix)."""
        return {"url": self.page_url(grid), "title": grid.title, "author": grid.author}

    def summary(self, grid: PostedGrid) -> dict[str, Any]:
        return self._summary(*summary_columns(grid))

    def summary_of_row(self, row: Sequence[Any]) -> dict[str, Any]:
        """The summary of one listed grid, from its columns in the order of `_summary`."""
        return self._summary(*row)

    def as_seen(self, summary: dict[str, Any]) -> dict[str, Any]:
        """A summary made for another viewer, as this one sees it (whether they own it and may
        delete it): the change feed renders a posted grid once for many subscribers."""
        author = summary["author"]
        return {**summary, "owned": author == self.viewer, "can_delete": self.may_delete(author)}

    def summaries(self, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
        """The summaries of listed grids: rows of `service.list_public`, whose columns come in
        the order of `_summary`'s arguments (unpacked as tuples: a listing makes dozens)."""
        return [self._summary(*row) for row in rows]

    def _summary(
        self,
        row_id: int,
        secret: bool,
        secret_nonce: int | None,
        author: str,
        title: str | None,
        created_at: datetime,
        ipb_class: str,
        width: int,
        height: int,
        public_parent_id: int | None,
    ) -> dict[str, Any]:
        grid_id = self.ids.for_row(row_id, secret_nonce)
        return {
            "id": grid_id,
            "secret": secret,
            "url": (self._secret_pages if secret else self._public_pages) + grid_id,
            "thumbnail_url": f"{self._thumbnails}{grid_id}/thumbnail.svg",
            "author": author,
            "title": title,
            "created": as_utc(created_at).isoformat(),
            "ipb_class": ipb_class,
            "width": width,
            "height": height,
            "owned": author == self.viewer,
            "can_delete": self.may_delete(author),
            # A secret parent's id would give its secret away: it shows as none.
            "parent": None if public_parent_id is None else self.ids.public(public_parent_id),
        }

    def record(
        self, grid: PostedGrid, remixes: Sequence[GridLike] = (), blocks: bool = True
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
            "remixes": [{"id": self.grid_id(remix), **self.link(remix)} for remix in remixes],
        }


def summary_columns(grid: PostedGrid) -> tuple[Any, ...]:
    """What a summary shows of `grid`, in the order of `GridRecords._summary`'s arguments (and
    of a listing's rows)."""
    return (
        grid.id,
        grid.secret,
        grid.secret_nonce,
        grid.author,
        grid.title,
        grid.created_at,
        grid.ipb_class,
        grid.width,
        grid.height,
        grid.public_parent_id,
    )

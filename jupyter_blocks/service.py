"""All database access for grids. Knows SQL, not HTTP: handlers hand these to `Database.read`
or `Database.write`, which call them in a worker thread with the request's session."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import sqlalchemy as sa
from sqlalchemy.orm import Session, defer, joinedload, with_expression
from sqlalchemy.orm.attributes import set_committed_value

from .ids import GridKey, new_secret_nonce
from .models import Grid, GridDeletion, InstanceSetting, public_id_of, utcnow
from .render import TABLE_MAX_CELLS, PageCode, pack_pixels

if TYPE_CHECKING:
    from .validation import NewGrid

# The instance setting that holds the hashids salt every server on the database shares.
SALT_SETTING = "hashids_salt"

# The (possibly megabytes of) columns that only some reads need.
_BIG_COLUMNS = ("grid_json", "code_cells", "thumbnail_svg", "pixels")
# A lookup of a grid without its data (a delete, a remix's parent) never needs them.
_SUMMARY_ONLY = tuple(defer(getattr(Grid, name)) for name in _BIG_COLUMNS)
# A record serves the JSON.
_RECORD_ONLY = (defer(Grid.pixels), defer(Grid.thumbnail_svg))
# A record without its blocks (a client drawing them from the pixels) has the code, not the JSON.
_RECORD_WITHOUT_BLOCKS = (*_RECORD_ONLY, defer(Grid.grid_json))
# A summary names its parent by id, a page by title and author: of the parent, only those.
_WITH_PARENT = joinedload(Grid.parent).load_only(
    Grid.id, Grid.secret, Grid.secret_nonce, Grid.title, Grid.author
)
# Most remixes a record lists.
MAX_REMIXES = 50
# No row id reaches this: the keyset bound of a listing's first page.
_NO_CURSOR = 2**63 - 1

# The hot paths (a grid's data, thumbnail, page, a listing, a post) read and write through Core
# statements of the columns they need, built once here: no ORM objects and identity map where
# rows do, and SQLAlchemy computes each statement's cache key once instead of per request.
GRIDS: sa.Table = Grid.__table__  # type: ignore[assignment]
_PARENT = GRIDS.alias("parent")


@dataclass(frozen=True)
class _ByKey:
    """A select of the grid behind a decoded id: one statement for public ids, one for secret
    ones. A public id matches only a public grid, a secret id only the secret grid whose nonce
    it carries."""

    public: sa.Select[Any]
    secret: sa.Select[Any]

    @classmethod
    def of(cls, query: sa.Select[Any]) -> _ByKey:
        same_row = GRIDS.c.id == sa.bindparam("row_id")
        return cls(
            query.where(same_row, GRIDS.c.secret.is_(False)),
            query.where(
                same_row, GRIDS.c.secret.is_(True), GRIDS.c.secret_nonce == sa.bindparam("nonce")
            ),
        )

    def bound(self, key: GridKey) -> tuple[sa.Select[Any], dict[str, Any]]:
        if key.secret:
            return self.secret, {"row_id": key.row_id, "nonce": key.nonce}
        return self.public, {"row_id": key.row_id}

    def row(self, session: Session, key: GridKey) -> sa.Row[Any] | None:
        """The grid's row (a Core select, in the session's transaction), or None."""
        return session.connection().execute(*self.bound(key)).first()

    def value(self, session: Session, key: GridKey) -> Any:
        """The first column of the grid's row, or None."""
        return session.connection().scalar(*self.bound(key))


# The grid as a model, with its parent's id, title and author (`find_grid` picks the columns).
_GRID = _ByKey.of(sa.select(Grid).options(_WITH_PARENT))
_GRID_JSON = _ByKey.of(sa.select(GRIDS.c.grid_json))
# From SQLite as its bytes (no decoding); PostgreSQL would send bytes hex-encoded.
_GRID_JSON_BYTES = _ByKey.of(sa.select(sa.cast(GRIDS.c.grid_json, sa.LargeBinary)))
_THUMBNAIL = _ByKey.of(sa.select(GRIDS.c.thumbnail_svg))
_PIXELS = _ByKey.of(sa.select(GRIDS.c.id, GRIDS.c.width, GRIDS.c.height, GRIDS.c.pixels))
_IMAGE_SOURCE = _ByKey.of(
    sa.select(GRIDS.c.id, GRIDS.c.width, GRIDS.c.height, GRIDS.c.lines_on, GRIDS.c.pixels)
)
# What a page shows of a grid: its columns, when it is drawn as a table its pixels, and the
# public grid it was remixed from.
_PAGE = _ByKey.of(
    sa.select(
        *(GRIDS.c[name] for name in ("id", "secret", "author", "title", "ipb_class")),
        *(GRIDS.c[name] for name in ("width", "height", "lines_on", "created_at")),
        sa.case((GRIDS.c.width * GRIDS.c.height <= TABLE_MAX_CELLS, GRIDS.c.pixels)),
        *(_PARENT.c[name] for name in ("id", "secret", "secret_nonce", "title", "author")),
    ).select_from(
        GRIDS.outerjoin(
            _PARENT, sa.and_(_PARENT.c.id == GRIDS.c.parent_id, _PARENT.c.secret.is_(False))
        )
    )
)
_REMIXES = (
    sa.select(GRIDS.c.id, GRIDS.c.secret, GRIDS.c.secret_nonce, GRIDS.c.title, GRIDS.c.author)
    .where(GRIDS.c.parent_id == sa.bindparam("parent_id"), GRIDS.c.secret.is_(False))
    .order_by(GRIDS.c.id.desc())
    .limit(MAX_REMIXES)
)
_INSERT = sa.insert(GRIDS).returning(GRIDS.c.id)
# The columns a StoredGrid holds as they are stored.
_STORED_COLUMNS = (
    "secret",
    "secret_nonce",
    "author",
    "title",
    "ipb_class",
    "ipb_version",
    "python_version",
    "width",
    "height",
    "lines_on",
    "grid_json",
    "code_cells",
    "created_at",
)
_HIGHEST_ID = sa.select(sa.func.max(GRIDS.c.id))
_FIRST_PUBLIC_FROM = (
    sa.select(GRIDS.c.id)
    .where(GRIDS.c.secret.is_(False), GRIDS.c.id >= sa.bindparam("start"))
    .order_by(GRIDS.c.id)
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class StoredGrid:
    """A grid as a post stored it: what its record shows, as plain values (a post builds no
    ORM object and reads no row back)."""

    id: int
    secret: bool
    secret_nonce: int | None
    author: str
    title: str | None
    ipb_class: str
    ipb_version: str | None
    python_version: list[Any] | None
    width: int
    height: int
    lines_on: bool
    grid_json: str
    code_cells: list[str] | None
    created_at: datetime
    public_parent_id: int | None
    # (a record serves these code cells; only loaded grids pass stored code on as JSON text)
    code_json: None = None

    @classmethod
    def of(cls, grid: Grid) -> StoredGrid:
        """A grid loaded with its data, code cells and parent (`_grid_for_key`)."""
        return cls(
            **{name: getattr(grid, name) for name in _STORED_COLUMNS},
            id=grid.id,
            public_parent_id=grid.public_parent_id,
        )


# A grid whose whole record can be shown: as a post stored it, or loaded with its data.
PostedGrid = StoredGrid | Grid


def create_grid(
    session: Session,
    new: NewGrid,
    author: str,
    parent: Grid | None = None,
    idempotency_key: str | None = None,
) -> StoredGrid:
    """Store `new`; `parent` is the grid it was remixed from (see `find_grid`). The row is
    inserted with one Core statement (RETURNING its id)."""
    row: dict[str, Any] = {
        "secret": new.secret,
        "secret_nonce": new_secret_nonce() if new.secret else None,
        "author": author,
        "title": new.title,
        "ipb_class": new.ipb_class,
        "ipb_version": new.ipb_version,
        "python_version": new.python_version,
        "width": new.width,
        "height": new.height,
        "lines_on": new.lines_on,
        "grid_json": new.grid_json,
        "code_cells": new.code_cells,
        "created_at": utcnow(),
    }
    row_id = (
        session.connection()
        .execute(
            _INSERT,
            {
                **row,
                "thumbnail_svg": new.thumbnail_svg,
                "pixels": new.pixels,
                "parent_id": parent.id if parent is not None else None,
                "idempotency_key": idempotency_key,
            },
        )
        .scalar_one()
    )
    return StoredGrid(id=row_id, public_parent_id=public_id_of(parent), **row)


def _grid_for_key(session: Session, author: str, idempotency_key: str) -> Grid | None:
    return session.scalar(
        sa.select(Grid)
        .where(Grid.author == author, Grid.idempotency_key == idempotency_key)
        .options(_WITH_PARENT)
    )


def create_grid_once(
    session: Session,
    new: NewGrid,
    author: str,
    idempotency_key: str | None,
    parent: Grid | None = None,
) -> StoredGrid:
    """`create_grid`, except that a post repeating an `idempotency_key` of the same author gets
    the grid the first one made. Two retries racing each other both get the one grid: the
    unique index refuses the second insert, whose transaction then reads the first one's row.
    Call it as the session's only write."""
    if idempotency_key is None:
        return create_grid(session, new, author, parent)
    found = _grid_for_key(session, author, idempotency_key)
    if found is not None:
        return StoredGrid.of(found)
    try:
        return create_grid(session, new, author, parent, idempotency_key)
    except sa.exc.IntegrityError:
        session.rollback()
        found = _grid_for_key(session, author, idempotency_key)
        if found is None:
            raise
        return StoredGrid.of(found)


class UnknownParent(LookupError):
    """A post names a grid to remix from that is not there (never was, or was deleted)."""


def store_post(
    session: Session,
    new: NewGrid,
    author: str,
    idempotency_key: str | None,
    parent_key: GridKey | None,
) -> StoredGrid:
    """Store a posted grid for `author`, with its parent (the grid it was remixed from, found by
    `parent_key`) looked up in the same transaction; a retry repeating an idempotency key gets
    the first grid (`create_grid_once`). UnknownParent when the parent is not there, also when
    it was deleted between the lookup and the insert (the foreign key refuses the row)."""
    parent = None
    if parent_key is not None:
        parent = find_grid(session, parent_key, with_data=False)
        if parent is None:
            raise UnknownParent()
    try:
        return create_grid_once(session, new, author, idempotency_key, parent)
    except sa.exc.IntegrityError:
        session.rollback()
        if parent_key is None or find_grid(session, parent_key, with_data=False):
            raise
        raise UnknownParent() from None


def find_grid(
    session: Session, key: GridKey, with_data: bool = True, with_blocks: bool = True
) -> Grid | None:
    """The grid behind a decoded id; unless `with_data`, without its data and code; with it,
    its code as `code_json`, not decoded, and its data unless not `with_blocks`."""
    query, params = _GRID.bound(key)
    options: tuple[Any, ...] = _SUMMARY_ONLY
    if with_data:
        record = _RECORD_ONLY if with_blocks else _RECORD_WITHOUT_BLOCKS
        code_json = _stored_code_list(session.get_bind().dialect.name)
        options = (*record, defer(Grid.code_cells), with_expression(Grid.code_json, code_json))
    found: Grid | None = session.scalar(query.options(*options), params)
    return found


def _when_code_is_a_list(dialect: str, value: Any) -> Any:
    """`value` where the stored code cells are a JSON list, else NULL: stored data is not
    trusted (a row written straight into the database)."""
    code = Grid.code_cells
    if dialect == "postgresql":
        return sa.case((sa.func.json_typeof(code) == "array", value))
    return sa.case((sa.func.json_valid(code), sa.case((sa.func.json_type(code) == "array", value))))


def _stored_code_list(dialect: str) -> Any:
    """The stored code cells as JSON text, `null` when they are not a list. As UTF-8 bytes from
    SQLite (no decoding); as text from PostgreSQL, whose bytes would come hex-encoded."""
    if dialect == "postgresql":
        return sa.func.coalesce(
            _when_code_is_a_list(dialect, sa.cast(Grid.code_cells, sa.Text)), "null"
        )
    as_bytes = sa.cast(Grid.code_cells, sa.LargeBinary)
    return sa.func.coalesce(
        _when_code_is_a_list(dialect, as_bytes), sa.literal(b"null", sa.LargeBinary)
    )


def grid_json(session: Session, key: GridKey) -> bytes | None:
    """The grid's data as the JSON stored when it was posted, as UTF-8 bytes: served as they
    are, by every request that shares the read (read_cache)."""
    if session.get_bind().dialect.name == "postgresql":
        text: str | None = _GRID_JSON.value(session, key)
        return None if text is None else text.encode()
    found: bytes | None = _GRID_JSON_BYTES.value(session, key)
    return found


def pixels(session: Session, key: GridKey) -> bytes | None:
    """The grid's blocks as packed when it was stored (render.pack_pixels)."""
    row = _PIXELS.row(session, key)
    return None if row is None else _packed(session, row, row.pixels)


class Linked(NamedTuple):
    """A grid as another one's page links it (its parent, a remix)."""

    id: int
    secret: bool
    secret_nonce: int | None
    title: str | None
    author: str


@dataclass(frozen=True, slots=True)
class PageGrid:
    """What a grid's page shows of it (`grid_for_page`)."""

    id: int
    secret: bool
    author: str
    title: str | None
    ipb_class: str
    width: int
    height: int
    lines_on: bool
    created_at: datetime
    # packed, for a grid drawn as a table (render.grid_drawing)
    pixels: bytes | None
    # the public grid it was remixed from
    parent: Linked | None


def grid_for_page(session: Session, key: GridKey) -> PageGrid | None:
    """The grid behind a decoded id, with what its page draws: the pixels of a grid drawn as a
    table (never its JSON), and not its code (`page_code`). One Core query."""
    row = session.connection().execute(*_PAGE.bound(key)).first()
    if row is None:
        return None
    row_id, secret, author, title, ipb_class, width, height, lines_on, created, pixels = row[:10]
    if width * height <= TABLE_MAX_CELLS:
        pixels = _packed(session, row, pixels)
    parent = None if row[10] is None else Linked._make(row[10:])
    return PageGrid(
        row_id, secret, author, title, ipb_class, width, height, lines_on, created, pixels, parent
    )


def _code_cells(dialect: str) -> tuple[Any, Any]:
    """The stored code cells as a table of (position, text), built by the database's own JSON
    functions, so that Python never holds (nor, holding the GIL, decodes) megabytes of code a page
    will not show. What is not a JSON list has no cells."""
    listed = _when_code_is_a_list(dialect, Grid.code_cells)
    if dialect == "postgresql":
        cells = (
            sa.func.json_array_elements_text(listed)
            .table_valued("value", with_ordinality="n")
            .render_derived()
        )
        return cells, cells.c.n
    cells = sa.func.json_each(listed).table_valued("key", "value")
    return cells, cells.c.key


def page_code(session: Session, row_id: int, budget_chars: int) -> PageCode:
    """The code a grid's page shows: its first cells up to `budget_chars` characters in all (the
    last one shown cut short), and how many cells and characters it has in all. The database
    counts and cuts the cells, and hands over at most `budget_chars` characters."""
    dialect = session.get_bind().dialect.name
    cells, position = _code_cells(dialect)
    text = sa.func.coalesce(sa.cast(cells.c.value, sa.Text), "")
    listed = (
        sa.select(position.label("n"), text.label("text"), sa.func.length(text).label("chars"))
        .select_from(Grid)
        .join(cells, sa.true())
        .where(Grid.id == row_id)
        .subquery()
    )
    before = sa.func.sum(listed.c.chars).over(order_by=listed.c.n) - listed.c.chars
    running = sa.select(
        listed.c.n,
        listed.c.text,
        before.label("before"),
        sa.func.count().over().label("cells"),
        sa.func.sum(listed.c.chars).over().label("chars"),
    ).subquery()
    shown = sa.func.substr(running.c.text, 1, sa.cast(budget_chars - running.c.before, sa.Integer))
    query = (
        sa.select(shown, running.c.cells, running.c.chars)
        .where(running.c.before < budget_chars)
        .order_by(running.c.n)
    )
    try:
        # a row written straight into PostgreSQL may hold text it cannot convert (a NUL)
        with session.begin_nested() if dialect == "postgresql" else nullcontext():
            rows = session.execute(query).all()
    except sa.exc.DataError:
        return PageCode([], 0, 0, 0)
    if not rows:
        return PageCode([], 0, 0, 0)
    texts = [row[0] for row in rows]
    return PageCode(texts, rows[0].cells, rows[0].chars, sum(map(len, texts)))


def _packed(session: Session, grid: Any, pixels: bytes | None) -> bytes:
    """`pixels`, or for a `grid` (id, width, height) that has none (a row written straight into
    the database; migrations and imports pack them), its blocks packed from its JSON, each time:
    reads never write."""
    if pixels is not None:
        return pixels
    stored = session.scalar(sa.select(Grid.grid_json).where(Grid.id == grid.id))
    return packed_pixels(stored, grid.width, grid.height)


def packed_pixels(grid_json: str | bytes | None, width: int, height: int) -> bytes:
    """The blocks of stored grid JSON, packed (render.pack_pixels). Stored data is not trusted:
    blocks that are not validated numbers, or that do not match the size, are drawn black."""
    try:
        pixels = pack_pixels(msgspec.json.decode(grid_json or "null")["blocks"])
        if len(zlib.decompress(pixels)) != width * height * 4:
            raise ValueError("the blocks do not match the grid's size")
    except (TypeError, ValueError, KeyError, msgspec.DecodeError):
        pixels = zlib.compress(bytes(width * height * 4))
    return pixels


def thumbnail(session: Session, key: GridKey) -> str | None:
    found: str | None = _THUMBNAIL.value(session, key)
    return found


# Remixes as `remixes` reads them.
Remixes = Sequence[sa.Row[Any]]


def remixes(session: Session, row_id: int) -> Remixes:
    """The public grids remixed from grid `row_id` (id, secret, secret_nonce, title, author),
    newest first, at most `MAX_REMIXES`."""
    return session.connection().execute(_REMIXES, {"parent_id": row_id}).all()


def rename_grid(session: Session, grid: Grid, title: str | None) -> None:
    """Store the new title (an UPDATE of that column alone: the rest of the loaded grid, such
    as its `code_json`, stays as loaded)."""
    session.execute(sa.update(Grid).where(Grid.id == grid.id).values(title=title))
    set_committed_value(grid, "title", title)


def _escaped(text: str) -> str:
    """`text` in lower case, its `%` and `_` matching themselves in a LIKE pattern."""
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains_pattern(text: str) -> str:
    return f"%{_escaped(text)}%"


def _lower_like(column: Any, pattern: Any) -> sa.ColumnElement[bool]:
    """lower(column) LIKE `pattern` (made by `_escaped`). The form the indexes on lower(...)
    serve (trigram GIN ones on PostgreSQL for substrings)."""
    return sa.func.lower(column).like(pattern, escape="\\")


def _listing(by_author: bool, searching: bool) -> sa.Select[Any]:
    """The select of a listing page: the columns of a summary (records.GridRecords.summaries) and
    the id of the grid's parent when that one is public."""
    public_parent = sa.and_(_PARENT.c.id == GRIDS.c.parent_id, _PARENT.c.secret.is_(False))
    query = (
        sa.select(
            *(GRIDS.c[name] for name in _SUMMARY_COLUMNS),
            _PARENT.c.id.label("public_parent_id"),
        )
        .select_from(GRIDS.outerjoin(_PARENT, public_parent))
        .where(GRIDS.c.secret.is_(False), GRIDS.c.id < sa.bindparam("before_id"))
    )
    if by_author:
        query = query.where(GRIDS.c.author == sa.bindparam("author"))
    if searching:
        query = query.where(
            sa.or_(
                _lower_like(GRIDS.c.title, sa.bindparam("search")),
                _lower_like(GRIDS.c.author, sa.bindparam("search")),
            )
        )
    return query.order_by(GRIDS.c.id.desc()).limit(sa.bindparam("limit"))


# In the order of records.GridRecords._summary's arguments.
_SUMMARY_COLUMNS = (
    "id",
    "secret",
    "secret_nonce",
    "author",
    "title",
    "created_at",
    "ipb_class",
    "width",
    "height",
)
# One statement per combination of filters.
_LISTINGS = {
    (by_author, searching): _listing(by_author, searching)
    for by_author in (False, True)
    for searching in (False, True)
}


def list_public(
    session: Session,
    limit: int,
    before_id: int | None = None,
    author: str | None = None,
    search: str | None = None,
) -> tuple[Sequence[sa.Row[Any]], bool]:
    """Public grids newest first (keyset paging on the row id) as rows of the columns a summary
    shows, and whether more follow; `search`: only those whose title or author contains it
    (case-insensitive)."""
    query = _LISTINGS[author is not None, bool(search)]
    parameters = {
        "before_id": _NO_CURSOR if before_id is None else before_id,
        "author": author,
        "search": _contains_pattern(search or ""),
        "limit": limit + 1,
    }
    rows = session.connection().execute(query, parameters).all()
    return rows[:limit], len(rows) > limit


# What the change feed reads of announced grids: a listing's columns, public grids only.
_ANNOUNCED = (
    sa.select(
        *(GRIDS.c[name] for name in _SUMMARY_COLUMNS),
        _PARENT.c.id.label("public_parent_id"),
    )
    .select_from(
        GRIDS.outerjoin(
            _PARENT, sa.and_(_PARENT.c.id == GRIDS.c.parent_id, _PARENT.c.secret.is_(False))
        )
    )
    .where(GRIDS.c.secret.is_(False), GRIDS.c.id.in_(sa.bindparam("row_ids", expanding=True)))
)
# PostgreSQL's channel of changes (live.CHANNEL, which listens on it).
CHANGES_CHANNEL = "jupyter_blocks"


def announced_grids(session: Session, row_ids: Sequence[int]) -> dict[int, sa.Row[Any]]:
    """The public grids among `row_ids` as a listing shows them (the columns of
    `list_public`'s rows), by row id; those deleted since, or secret, are missing."""
    rows = session.connection().execute(_ANNOUNCED, {"row_ids": list(set(row_ids))}).all()
    return {row.id: row for row in rows}


def announce(session: Session, kind: str, row_id: int) -> None:
    """On PostgreSQL, have the change (`p`osted, `r`enamed, `d`eleted, of a public grid) sent to
    every server listening on the database when this session's transaction commits (nothing if
    it rolls back). Only the kind and row id travel: NOTIFY payloads are small. Nothing on
    SQLite, where the writing process publishes its own changes."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(sa.select(sa.func.pg_notify(CHANGES_CHANNEL, f"{kind}:{row_id}")))


def authors(session: Session, prefix: str, limit: int) -> list[str]:
    """Names of authors of public grids starting with `prefix` (case-insensitive), sorted."""
    query = (
        sa.select(Grid.author)
        .where(Grid.secret.is_(False), _lower_like(Grid.author, f"{_escaped(prefix)}%"))
        .group_by(Grid.author)
        .order_by(Grid.author)
        .limit(limit)
    )
    return list(session.scalars(query))


def grid_image_source(session: Session, key: GridKey) -> tuple[int, int, bool, bytes] | None:
    """What an image of the grid is drawn from: its size, lines and packed pixels."""
    row = _IMAGE_SOURCE.row(session, key)
    if row is None:
        return None
    return row.width, row.height, row.lines_on, _packed(session, row, row.pixels)


def random_public_id(session: Session) -> int | None:
    """A random public grid's row id in constant time at any table size: the largest row id
    (the end of the primary key's index), a random point below it, and the first public grid
    at or after that point (one seek in the (secret, id) index), wrapping around to the first."""
    connection = session.connection()
    highest = connection.scalar(_HIGHEST_ID)
    if highest is None:
        return None
    found = connection.scalar(_FIRST_PUBLIC_FROM, {"start": random.randint(1, highest)})
    return found if found is not None else connection.scalar(_FIRST_PUBLIC_FROM, {"start": 0})


def delete_grid(session: Session, grid: Grid, deleted_by: str) -> None:
    """Delete `grid` and record who did it in the audit trail, in one transaction."""
    session.add(
        GridDeletion(
            grid_row_id=grid.id,
            grid_secret_nonce=grid.secret_nonce,
            grid_author=grid.author,
            grid_title=grid.title,
            deleted_by=deleted_by,
            by_moderator=deleted_by != grid.author,
        )
    )
    session.execute(sa.delete(Grid).where(Grid.id == grid.id))


def deletions(session: Session, limit: int) -> list[GridDeletion]:
    """The newest `limit` entries of the audit trail, newest first."""
    query = sa.select(GridDeletion).order_by(GridDeletion.id.desc()).limit(limit)
    return list(session.scalars(query))


def statistics(session: Session) -> dict[str, Any]:
    """Counts for `jupyter blocks stats`."""
    public, secret = session.execute(
        sa.select(
            sa.func.count().filter(Grid.secret.is_(False)),
            sa.func.count().filter(Grid.secret.is_(True)),
        )
    ).one()
    authors = session.execute(
        sa.select(Grid.author, sa.func.count())
        .group_by(Grid.author)
        .order_by(sa.func.count().desc(), Grid.author)
        .limit(10)
    )
    return {"public": public, "secret": secret, "top_authors": [list(row) for row in authors]}


def count_grids(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(Grid)) or 0)


def export_rows(session: Session, batch_rows: int = 500) -> Iterator[dict[str, Any]]:
    """Every grid row (secret ones too) as a JSON-ready dict, oldest first, fetched
    `batch_rows` at a time (a server-side cursor on PostgreSQL), so memory stays flat. The grid
    data is exported as a JSON object and the pixels left out (they are made from it again)."""
    rows = session.execute(
        sa.select(Grid.__table__).order_by(Grid.id).execution_options(yield_per=batch_rows)
    )
    for row in rows.mappings():
        exported = {
            **row,
            "grid_data": msgspec.json.decode(row["grid_json"]),
            "created_at": row["created_at"].isoformat(),
        }
        del exported["grid_json"], exported["pixels"], exported["lines_on"]
        yield exported


def last_row_id(session: Session) -> int:
    """The highest row id ever given out, deleted grids included (0 for none)."""
    if session.get_bind().dialect.name == "postgresql":
        last = session.scalar(
            sa.text(
                "SELECT pg_sequence_last_value("
                "CAST(pg_get_serial_sequence('grids', 'id') AS regclass))"
            )
        )
    else:
        last = session.scalar(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'grids'"))
    return max(int(last or 0), int(session.scalar(sa.select(sa.func.max(Grid.id))) or 0))


def require_empty(session: Session) -> None:
    if session.scalar(sa.select(Grid.id).limit(1)) is not None:
        raise ValueError("the target database already holds grids; import into an empty one")


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert exported rows keeping their row ids (so their grid ids stay the same)."""
    session.execute(sa.insert(Grid), [stored_row(row) for row in rows])


def never_reuse_row_ids(session: Session, last_given: int) -> None:
    """Make new grids get ids above `last_given` and above every stored one, as after an
    import: ids of grids deleted before the export are not given out again either."""
    top = max(last_given, int(session.scalar(sa.select(sa.func.max(Grid.id))) or 0))
    if top <= 0:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('grids', 'id'), :top)"), {"top": top}
        )
        return
    updated: sa.CursorResult[Any] = session.execute(  # type: ignore[assignment]
        sa.text("UPDATE sqlite_sequence SET seq = max(seq, :top) WHERE name = 'grids'"),
        {"top": top},
    )
    if not updated.rowcount:
        session.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('grids', :top)"),
            {"top": top},
        )


def stored_row(exported: dict[str, Any]) -> dict[str, Any]:
    """An exported row as it is stored: the grid data as JSON, and its blocks packed."""
    row = {**exported, "created_at": datetime.fromisoformat(exported["created_at"])}
    grid_data = row.pop("grid_data")
    row["grid_json"] = msgspec.json.encode(grid_data).decode()
    row["lines_on"] = grid_data.get("lines_on") is not False
    row["pixels"] = packed_pixels(row["grid_json"], row["width"], row["height"])
    return row


def instance_setting(session: Session, key: str) -> str | None:
    return session.scalar(sa.select(InstanceSetting.value).where(InstanceSetting.key == key))


def set_instance_setting(session: Session, key: str, value: str) -> None:
    session.execute(sa.delete(InstanceSetting).where(InstanceSetting.key == key))
    session.add(InstanceSetting(key=key, value=value))

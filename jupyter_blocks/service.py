"""All database access for grids. Knows SQL, not HTTP: handlers hand these to `Database.run`,
which calls them in a worker thread with the request's session."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, defer, joinedload, load_only

from .ids import GridKey, new_secret_nonce
from .models import Grid, GridDeletion, InstanceSetting
from .render import thumbnail_svg

if TYPE_CHECKING:  # jsonschema, behind validation, is slow to import for the CLI
    from .validation import NewGrid

# The instance setting that holds the hashids salt every server on the database shares.
SALT_SETTING = "hashids_salt"

# A listing never needs the (possibly megabytes of) grid data or code.
_SUMMARY_ONLY = (defer(Grid.grid_data), defer(Grid.code_cells), defer(Grid.thumbnail_svg))
# A summary names its parent by id, a page by title and author: of the parent, only those.
_WITH_PARENT = joinedload(Grid.parent).load_only(
    Grid.id, Grid.secret, Grid.secret_nonce, Grid.title, Grid.author
)
# Most remixes a record lists.
MAX_REMIXES = 50


def create_grid(
    session: Session,
    new: NewGrid,
    author: str,
    parent: Grid | None = None,
    idempotency_key: str | None = None,
) -> Grid:
    """Store `new`; `parent` is the grid it was remixed from (see `find_grid`)."""
    grid = Grid(
        secret=new.secret,
        secret_nonce=new_secret_nonce() if new.secret else None,
        author=author,
        title=new.title,
        ipb_class=new.ipb_class,
        ipb_version=new.ipb_version,
        python_version=new.python_version,
        width=new.width,
        height=new.height,
        grid_data=new.grid_data,
        code_cells=new.code_cells,
        thumbnail_svg=thumbnail_svg(new.grid_data),
        parent=parent,
        idempotency_key=idempotency_key,
    )
    session.add(grid)
    session.flush()
    return grid


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
) -> Grid:
    """`create_grid`, except that a post repeating an `idempotency_key` of the same author gets
    the grid the first one made. Two retries racing each other both get the one grid: the
    unique index refuses the second insert, whose transaction then reads the first one's row.
    Call it as the session's only write."""
    if idempotency_key is None:
        return create_grid(session, new, author, parent)
    found = _grid_for_key(session, author, idempotency_key)
    if found is not None:
        return found
    try:
        return create_grid(session, new, author, parent, idempotency_key)
    except sa.exc.IntegrityError:
        session.rollback()
        found = _grid_for_key(session, author, idempotency_key)
        if found is None:
            raise
        return found


def _matching(key: GridKey) -> list[sa.ColumnElement[bool]]:
    """A public id matches only a public grid, a secret id only the secret grid whose nonce it
    carries."""
    if key.secret:
        return [Grid.id == key.row_id, Grid.secret.is_(True), Grid.secret_nonce == key.nonce]
    return [Grid.id == key.row_id, Grid.secret.is_(False)]


def find_grid(session: Session, key: GridKey, with_data: bool = True) -> Grid | None:
    """The grid behind a decoded id (without its data and code unless `with_data`)."""
    query = sa.select(Grid).where(*_matching(key)).options(_WITH_PARENT)
    if not with_data:
        query = query.options(*_SUMMARY_ONLY)
    return session.scalar(query)


def grid_for_page(session: Session, key: GridKey) -> tuple[Grid, str | None] | None:
    """The grid behind a decoded id with its code cells as JSON text, not decoded: up to 20 MB
    of code decoded in one call would hold the GIL, and so stall the event loop, for long."""
    row = session.execute(
        sa.select(Grid, sa.cast(Grid.code_cells, sa.Text))
        .options(defer(Grid.code_cells), _WITH_PARENT)
        .where(*_matching(key))
    ).first()
    return None if row is None else (row[0], row[1])


def thumbnail(session: Session, key: GridKey) -> str | None:
    return session.scalar(sa.select(Grid.thumbnail_svg).where(*_matching(key)))


def remixes(session: Session, grid: Grid) -> list[Grid]:
    """The public grids remixed from `grid`, newest first, at most `MAX_REMIXES`."""
    query = (
        sa.select(Grid)
        .options(load_only(Grid.id, Grid.secret, Grid.secret_nonce, Grid.title, Grid.author))
        .where(Grid.parent_id == grid.id, Grid.secret.is_(False))
        .order_by(Grid.id.desc())
        .limit(MAX_REMIXES)
    )
    return list(session.scalars(query))


def rename_grid(session: Session, grid: Grid, title: str | None) -> None:
    grid.title = title
    session.flush()


def _lower_like(column: Any, text: str, anywhere: bool) -> sa.ColumnElement[bool]:
    """lower(column) contains (`anywhere`) or starts with `text`, whatever `%` or `_` it holds.
    The form the indexes on lower(...) serve (trigram GIN ones on PostgreSQL for substrings)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%" if anywhere else f"{escaped}%"
    return sa.func.lower(column).like(pattern, escape="\\")


def list_public(
    session: Session,
    limit: int,
    before_id: int | None = None,
    author: str | None = None,
    search: str | None = None,
) -> tuple[list[Grid], bool]:
    """Public grids newest first (keyset paging on the row id), and whether more follow;
    `search`: only those whose title or author contains it (case-insensitive)."""
    query = sa.select(Grid).options(*_SUMMARY_ONLY, _WITH_PARENT).where(Grid.secret.is_(False))
    if author is not None:
        query = query.where(Grid.author == author)
    if search:
        query = query.where(
            sa.or_(_lower_like(Grid.title, search, True), _lower_like(Grid.author, search, True))
        )
    if before_id is not None:
        query = query.where(Grid.id < before_id)
    rows = list(session.scalars(query.order_by(Grid.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def authors(session: Session, prefix: str, limit: int) -> list[str]:
    """Names of authors of public grids starting with `prefix` (case-insensitive), sorted."""
    query = (
        sa.select(Grid.author)
        .where(Grid.secret.is_(False), _lower_like(Grid.author, prefix, False))
        .group_by(Grid.author)
        .order_by(Grid.author)
        .limit(limit)
    )
    return list(session.scalars(query))


def grid_image_source(session: Session, key: GridKey) -> dict[str, Any] | None:
    """The grid data to draw an image from (one column)."""
    return session.scalar(sa.select(Grid.grid_data).where(*_matching(key)))


def random_public_id(session: Session) -> int | None:
    """A random public grid's row id, without scanning the table: pick a point in the id range
    and take the next public grid at or after it."""
    public = sa.select(Grid.id).where(Grid.secret.is_(False))
    low, high = session.execute(
        sa.select(sa.func.min(Grid.id), sa.func.max(Grid.id)).where(Grid.secret.is_(False))
    ).one()
    if low is None:
        return None
    point = random.randint(low, high)
    return session.scalar(public.where(Grid.id >= point).order_by(Grid.id).limit(1))


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
    `batch_rows` at a time (a server-side cursor on PostgreSQL), so memory stays flat."""
    rows = session.execute(
        sa.select(Grid.__table__).order_by(Grid.id).execution_options(yield_per=batch_rows)
    )
    for row in rows.mappings():
        yield {**row, "created_at": row["created_at"].isoformat()}


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
    session.execute(
        sa.insert(Grid),
        [{**row, "created_at": datetime.fromisoformat(row["created_at"])} for row in rows],
    )


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


def instance_setting(session: Session, key: str) -> str | None:
    return session.scalar(sa.select(InstanceSetting.value).where(InstanceSetting.key == key))


def set_instance_setting(session: Session, key: str, value: str) -> None:
    session.execute(sa.delete(InstanceSetting).where(InstanceSetting.key == key))
    session.add(InstanceSetting(key=key, value=value))

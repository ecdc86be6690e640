"""SQLAlchemy 2.x models: the grids table and the instance settings table."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import msgspec
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, query_expression, relationship

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
RowId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def public_id_of(parent: Grid | None) -> int | None:
    """The row id of `parent` when it is public: a secret parent's id would give its secret
    away."""
    return parent.id if parent is not None and not parent.secret else None


class Base(DeclarativeBase):
    pass


class Grid(Base):
    """One posted grid. Only its title changes after it is stored (renamed by its author)."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    # 48 random bits that are part of a secret grid's id; NULL for public grids.
    secret_nonce: Mapped[int | None] = mapped_column(BigInteger)
    author: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(200))
    ipb_class: Mapped[str] = mapped_column(String(32))
    ipb_version: Mapped[str | None] = mapped_column(String(32))
    python_version: Mapped[list[Any] | None] = mapped_column(JSON)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    lines_on: Mapped[bool] = mapped_column(Boolean)
    # The validated `grid_data` as compact JSON, written once and served as it is: a read
    # never decodes and encodes it again.
    grid_json: Mapped[str] = mapped_column(Text)
    code_cells: Mapped[list[str] | None] = mapped_column(JSON)
    # `code_cells` as the JSON text stored (or its UTF-8 bytes), loaded instead of them where a
    # record is served (`service.find_grid`): megabytes of code are passed on, never decoded.
    # None when not loaded so.
    code_json: Mapped[str | bytes | None] = query_expression()
    # Drawn once when the grid is stored, so listing pages never touch the grid data.
    thumbnail_svg: Mapped[str] = mapped_column(Text)
    # The blocks as zlib-compressed bytes (red, green, blue, size per block, rows top first),
    # made once when the grid is stored: a page draws any grid from these (render.py). NULL for
    # grids stored before they existed until first needed (service.py packs them then).
    pixels: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The grid this one was remixed from (loaded with `from_web`, changed, posted again).
    parent_id: Mapped[int | None] = mapped_column(
        RowId, ForeignKey("grids.id", name="fk_grids_parent_id", ondelete="SET NULL")
    )
    # Loaded only where asked for (`service.with_parent`): a summary names its parent's id.
    parent: Mapped[Grid | None] = relationship(remote_side=[id], lazy="raise")
    # The client's `Idempotency-Key` header, so a retried post returns this grid, not a new one.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        # Newest-first paging of public grids: WHERE NOT secret AND id < :cursor ORDER BY id DESC.
        Index("ix_grids_secret_id", "secret", "id"),
        # The same, filtered by author.
        Index("ix_grids_author_secret_id", "author", "secret", "id"),
        # A grid's remixes: WHERE parent_id = :id AND NOT secret. Only of grids with a parent,
        # so that SQLite's statistics do not take the NULLs of all the others for one value
        # most rows share, and scan the table instead (see its migration).
        Index(
            "ix_grids_parent_id_secret",
            "parent_id",
            "secret",
            sqlite_where=parent_id.isnot(None),
            postgresql_where=parent_id.isnot(None),
        ),
        # Search and author suggestions (on PostgreSQL also trigram indexes, see the migration).
        Index("ix_grids_lower_title", func.lower(title)),
        Index("ix_grids_lower_author", func.lower(author)),
        # One grid per key and author; grids posted without a key are not in it.
        Index(
            "ux_grids_author_idempotency_key",
            "author",
            "idempotency_key",
            unique=True,
            sqlite_where=idempotency_key.isnot(None),
            postgresql_where=idempotency_key.isnot(None),
        ),
        # SQLite reuses the highest row id after a delete unless the table is AUTOINCREMENT.
        {"sqlite_autoincrement": True},
    )

    @property
    def grid_data(self) -> dict[str, Any]:
        """`grid_json` decoded, for code that needs the blocks as Python values."""
        return dict(msgspec.json.decode(self.grid_json))

    @property
    def public_parent_id(self) -> int | None:
        """The row id of the grid this one was remixed from, when that one is public. Needs
        `parent` loaded."""
        return public_id_of(self.parent)


class InstanceSetting(Base):
    """Settings that every server sharing the database must agree on (e.g. the hashids salt)."""

    __tablename__ = "instance_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class GridDeletion(Base):
    """The audit trail: one row per deleted grid, by its author or by a moderator.

    The grid's row id and nonce are kept so `jupyter blocks audit` can show the id users saw.
    """

    __tablename__ = "grid_deletions"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    grid_row_id: Mapped[int] = mapped_column(BigInteger)
    grid_secret_nonce: Mapped[int | None] = mapped_column(BigInteger)
    grid_author: Mapped[str] = mapped_column(String(255))
    grid_title: Mapped[str | None] = mapped_column(String(200))
    deleted_by: Mapped[str] = mapped_column(String(255))
    # True when someone other than the author deleted it (a moderator).
    by_moderator: Mapped[bool] = mapped_column(Boolean)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

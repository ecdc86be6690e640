"""SQLAlchemy 2.x models: the grids table and the instance settings table."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
RowId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Grid(Base):
    """One posted grid. Rows are never updated; they are created and deleted."""

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
    grid_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    code_cells: Mapped[list[str] | None] = mapped_column(JSON)
    # Drawn once when the grid is stored, so listing pages never touch grid_data.
    thumbnail_svg: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The client's `Idempotency-Key` header, so a retried post returns this grid, not a new one.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        # Newest-first paging of public grids: WHERE NOT secret AND id < :cursor ORDER BY id DESC.
        Index("ix_grids_secret_id", "secret", "id"),
        # The same, filtered by author.
        Index("ix_grids_author_secret_id", "author", "secret", "id"),
        # One grid per key and author (NULL keys never collide).
        Index("ux_grids_author_idempotency_key", "author", "idempotency_key", unique=True),
        # SQLite reuses the highest row id after a delete unless the table is AUTOINCREMENT.
        {"sqlite_autoincrement": True},
    )


class InstanceSetting(Base):
    """Settings that every server sharing the database must agree on (e.g. the hashids salt)."""

    __tablename__ = "instance_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)

"""Schema migrations as jupyterhub tests them: the models agree with the migrations, databases
made by the first revision upgrade with their grids and ids intact, SQLite files are backed up
first, and a database behind the code is refused with the command that fixes it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from jupyter_blocks import db
from jupyter_blocks.ids import GridIds
from jupyter_blocks.models import Base

FIRST_REVISION = "1f0c2a9d3b7e"
REPOSITORY = Path(__file__).parent.parent


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = db.create_engine(db_url)
    yield engine
    engine.dispose()


def test_the_first_revision_is_the_root_of_the_history() -> None:
    script = ScriptDirectory.from_config(db.alembic_config())
    assert list(script.get_bases()) == [FIRST_REVISION]
    assert len(script.get_heads()) == 1, "the migrations have branched: chain them"


def test_the_head_the_server_checks_without_alembic_is_the_scripts_head() -> None:
    assert db.head_revision() == db.HEAD_REVISION


def test_a_server_starting_on_an_up_to_date_database_does_not_load_alembic(
    tmp_path: Path,
) -> None:
    """Alembic takes memory in every user's server for nothing once the schema is at head."""
    url = f"sqlite:///{tmp_path / 'blocks.sqlite'}"
    upgraded = db.create_engine(url)
    db.upgrade(upgraded)
    upgraded.dispose()
    starts = (
        "import sys; from jupyter_blocks import db; "
        f"engine = db.create_engine({url!r}); db.upgrade(engine); "
        "assert db.current_revision(engine) == db.HEAD_REVISION; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", starts], capture_output=True, text=True, check=True
    ).stdout
    assert shown.strip() == "[]"


# SQLite's indexes on lower(...) cannot be reflected; autogenerate leaves them out.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_the_models_match_the_migrations(engine: Engine) -> None:
    """What `alembic check` does: autogenerate finds nothing to migrate at head."""
    db.upgrade(engine)
    with engine.connect() as connection:
        command.check(db.alembic_config(connection))


def _insert_first_revision_grids(engine: Engine) -> list[int]:
    """Grids as the first revision stored them (only the columns it had), public and secret."""
    grids = sa.Table("grids", sa.MetaData(), autoload_with=engine)
    rows = [
        {
            "secret": secret,
            "secret_nonce": 0xABCDEF123456 if secret else None,
            "author": author,
            "title": f"grid {number}",
            "ipb_class": "BlockGrid",
            "ipb_version": "1.9.1",
            "python_version": [3, 11, 7, "final", 0],
            "width": 1,
            "height": 1,
            "grid_data": {"lines_on": True, "width": 1, "height": 1, "blocks": [[[1, 2, 3, 20]]]},
            "code_cells": None,
            "thumbnail_svg": "<svg/>",
            "created_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
        }
        for number, (author, secret) in enumerate(
            [("ada", False), ("grace", True), ("ada", False), ("linus", False)]
        )
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(grids), rows)
        connection.execute(sa.delete(grids).where(grids.c.id == 2))  # a gap the ids keep
        return list(connection.scalars(sa.select(grids.c.id).order_by(grids.c.id)))


def test_a_database_of_the_first_revision_upgrades_keeping_its_grids_and_ids(
    engine: Engine,
) -> None:
    db.upgrade(engine, FIRST_REVISION)
    row_ids = _insert_first_revision_grids(engine)
    salt = db.stored_setting(engine, "hashids_salt")
    ids = GridIds(salt or "", min_length=6)
    with engine.connect() as connection:
        before = {
            row.id: ids.for_row(row.id, row.secret_nonce)
            for row in connection.execute(sa.text("SELECT id, secret_nonce FROM grids"))
        }

    db.upgrade(engine)

    assert db.current_revision(engine) == db.head_revision()
    assert db.stored_setting(engine, "hashids_salt") == salt
    with engine.connect() as connection:
        after = {
            row.id: ids.for_row(row.id, row.secret_nonce)
            for row in connection.execute(sa.text("SELECT id, secret_nonce FROM grids"))
        }
    assert sorted(after) == row_ids == [1, 3, 4]
    assert after == before
    # New grids continue after the highest id.
    grids = Base.metadata.tables["grids"]
    with engine.begin() as connection:
        new_id = connection.execute(
            sa.insert(grids).returning(grids.c.id),
            {**_a_grid_row(), "created_at": datetime.now(timezone.utc)},
        ).scalar_one()
    assert new_id == 5


def _a_grid_row() -> dict[str, object]:
    return {
        "secret": False,
        "author": "ada",
        "ipb_class": "BlockGrid",
        "width": 1,
        "height": 1,
        "lines_on": True,
        "grid_json": '{"lines_on":true,"width":1,"height":1,"blocks":[[[1,2,3,20]]]}',
        "pixels": zlib.compress(bytes([1, 2, 3, 20])),
        "thumbnail_svg": "<svg/>",
    }


def test_an_upgrade_backs_up_a_sqlite_file_that_holds_an_older_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'blocks.sqlite'}"
    engine = db.create_engine(url)
    try:
        assert db.upgrade(engine, FIRST_REVISION) is None  # a new file: nothing to back up
        _insert_first_revision_grids(engine)
        backup = db.upgrade(engine)
        assert db.upgrade(engine) is None  # at head: nothing to do
    finally:
        engine.dispose()
    if db.head_revision() == FIRST_REVISION:
        assert backup is None
        return
    assert backup is not None
    assert backup.name.startswith("blocks.sqlite.") and backup.suffix == ".bak"
    with sqlite3.connect(backup) as copy:
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone() == (
            FIRST_REVISION,
        )
        assert copy.execute("SELECT count(*) FROM grids").fetchone() == (3,)


def test_a_sqlite_backup_holds_every_committed_row(tmp_path: Path) -> None:
    """Including rows still in the write-ahead log, which a plain file copy would miss."""
    engine = db.create_engine(f"sqlite:///{tmp_path / 'blocks.sqlite'}")
    try:
        db.upgrade(engine, FIRST_REVISION)
        _insert_first_revision_grids(engine)
        with engine.connect():  # a connection stays open, so the log is not checkpointed
            backup = db.backup_sqlite(engine)
    finally:
        engine.dispose()
    assert backup is not None
    assert backup.parent == tmp_path
    with sqlite3.connect(backup) as copy:
        assert copy.execute("SELECT count(*) FROM grids").fetchone() == (3,)


def test_postgresql_databases_are_not_file_copied(postgres_server: str) -> None:
    engine = db.create_engine(f"{postgres_server}/postgres")
    try:
        assert db.backup_sqlite(engine) is None
    finally:
        engine.dispose()


def test_a_schema_mismatch_names_the_database_and_the_command_to_run() -> None:
    url = sa.engine.make_url("postgresql+psycopg://blocks:secret@db.example.org/blocks")
    error = db.SchemaMismatch(url, None, "abc123")
    assert "secret" not in str(error)
    assert "jupyter blocks --db-url 'postgresql+psycopg://blocks:***@db.example.org/blocks' " in (
        str(error)
    )
    assert "upgrade-db" in str(error)
    assert (error.current, error.head) == (None, "abc123")


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_the_alembic_command_line_migrates_a_database_named_by_url(
    tmp_path: Path, mode: str
) -> None:
    """`alembic -x db_url=... upgrade head` from the repository, as a developer runs it."""
    from alembic.config import main as alembic

    url = f"sqlite:///{tmp_path / 'blocks.sqlite'}"
    if mode == "offline":  # SQLite alters tables by copying them: only online
        url = "postgresql+psycopg://nobody@127.0.0.1:1/blocks"  # never connected to
    args = ["-c", str(REPOSITORY / "alembic.ini"), "-x", f"db_url={url}", "upgrade", "head"]
    if mode == "offline":
        output = tmp_path / "upgrade.sql"
        with output.open("w") as out:
            import contextlib

            with contextlib.redirect_stdout(out):
                alembic([*args, "--sql"])
        assert "CREATE TABLE grids" in output.read_text()
        assert not (tmp_path / "blocks.sqlite").exists()
        return
    alembic(args)
    engine = db.create_engine(url)
    try:
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()

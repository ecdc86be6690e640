"""`jupyter blocks ...`: upgrade, stats, export, import and copy between databases."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from jupyter_blocks import db, service
from jupyter_blocks.models import Grid
from tests.utils import AUTHOR, exported_row


def blocks_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_blocks.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("blocks_config", [{"hashids_salt": "pepper", "hashids_min_length": 10}])
async def test_audit_names_each_deleted_grid_by_the_id_its_users_saw(
    jp_fetch: Any, post_grid: Any, db_url: str, tmp_path: Path, blocks_config: dict[str, Any]
) -> None:
    grid = await post_grid(title="gone")
    await jp_fetch("blocks", "api", "grids", grid["id"], method="DELETE")
    # the same settings as the server, from the environment (no config files here)
    settings = {
        f"JUPYTER_BLOCKS_{name.upper()}": str(value) for name, value in blocks_config.items()
    }
    result = blocks_cli(
        "--db-url",
        db_url,
        "audit",
        "--json",
        env={**settings, "JUPYTER_CONFIG_DIR": str(tmp_path), "JUPYTER_CONFIG_PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    (entry,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert entry["grid"] == grid["id"] and len(grid["id"]) >= 10
    assert entry["title"] == "gone" and entry["author"] == entry["deleted_by"] == AUTHOR
    assert entry["by_moderator"] is False


async def test_copy_keeps_every_grid_and_its_id(
    jp_fetch: Any, post_grid: Any, db_url: str, tmp_path: Path
) -> None:
    public = await post_grid(title="kept", code_cells=["x = 1"])
    secret = await post_grid(secret=True)
    target = f"sqlite:///{tmp_path / 'copy.sqlite'}"
    copied = blocks_cli("--db-url", db_url, "copy", "--to", target)
    assert copied.returncode == 0, copied.stderr
    assert "copied 2 grids" in copied.stdout

    exported = blocks_cli("--db-url", target, "export")
    header, *rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert header["jupyter_blocks_export"] == 1 and header["hashids_salt"]
    assert [row["title"] for row in rows] == ["kept", None]
    assert rows[0]["grid_data"] == public["grid_data"] and rows[0]["code_cells"] == ["x = 1"]
    assert rows[1]["secret"] is True and rows[1]["author"] == AUTHOR

    from jupyter_blocks.ids import GridIds

    ids = GridIds(header["hashids_salt"], min_length=6)
    assert ids.public(rows[0]["id"]) == public["id"]
    assert ids.secret(rows[1]["id"], rows[1]["secret_nonce"]) == secret["id"]

    again = blocks_cli("--db-url", db_url, "copy", "--to", target)
    assert again.returncode != 0
    assert "already holds grids" in again.stderr


def test_export_import_and_stats(tmp_path: Path, db_url: str) -> None:
    export_file = tmp_path / "grids.jsonl"
    export_file.write_text(
        json.dumps({"jupyter_blocks_export": 1, "hashids_salt": "pepper"})
        + "\n"
        + json.dumps(
            {
                "id": 41,
                "secret": False,
                "secret_nonce": None,
                "author": "ada",
                "title": "t",
                "ipb_class": "BlockGrid",
                "ipb_version": "1.9.1",
                "python_version": [3, 11],
                "width": 1,
                "height": 1,
                "grid_data": {
                    "lines_on": True,
                    "width": 1,
                    "height": 1,
                    "blocks": [[[1, 2, 3, 20]]],
                },
                "code_cells": None,
                "thumbnail_svg": "<svg/>",
                "created_at": "2026-01-02T03:04:05+00:00",
            }
        )
        + "\n"
    )
    imported = blocks_cli("--db-url", db_url, "import", str(export_file))
    assert imported.returncode == 0, imported.stderr
    stats = json.loads(blocks_cli("--db-url", db_url, "stats").stdout)
    assert stats == {"public": 1, "secret": 0, "top_authors": [["ada", 1]]}
    upgraded = blocks_cli("--db-url", db_url, "upgrade-db")
    assert "schema at revision" in upgraded.stdout


def test_the_database_comes_from_the_environment_without_a_flag(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.sqlite'}"
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_blocks.cli", "upgrade-db"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**__import__("os").environ, "JUPYTER_BLOCKS_DB_URL": url},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(url)


def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text('{"hello": 1}\n')
    result = blocks_cli("--db-url", f"sqlite:///{tmp_path / 'x.sqlite'}", "import", str(bogus))
    assert result.returncode != 0 and "not a jupyter-blocks export" in result.stderr


def write_export(path: Path, rows: Any, last_row_id: int = 0) -> None:
    with path.open("w") as out:
        header = {"jupyter_blocks_export": 1, "hashids_salt": "pepper"}
        out.write(json.dumps({**header, "last_row_id": last_row_id}) + "\n")
        for row in rows:
            out.write((row if isinstance(row, str) else json.dumps(row)) + "\n")


# The CLI, then its peak memory: VmHWM of this process image (ru_maxrss would count the
# parent's peak too, inherited across fork and exec).
MEASURED = (
    "import re, sys\n"
    "from jupyter_blocks.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "finally:\n"
    "    status = open('/proc/self/status').read()\n"
    "    print('peak_kb=' + re.search(r'VmHWM:\\s*(\\d+)', status).group(1), file=sys.stderr)\n"
)


def measured_cli(*args: str, stderr_tty: bool = False) -> tuple[int, str, int]:
    """Run `jupyter blocks ARGS`; its exit status, stderr, and peak memory in KB. With
    `stderr_tty`, its stderr is a real terminal (a pseudo-terminal)."""
    command = [sys.executable, "-c", MEASURED, *args]
    if stderr_tty:
        leader, follower = pty.openpty()
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=follower) as process:
            os.close(follower)
            chunks = []
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed with the process
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            status = process.wait(timeout=300)
        os.close(leader)
        err = b"".join(chunks).decode()
    else:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        status, err = done.returncode, done.stderr
    peak = int(re.findall(r"peak_kb=(\d+)", err)[-1])
    return status, err, peak


def test_export_import_and_copy_stream_in_flat_memory(
    tmp_path: Path, db_url: str, request: pytest.FixtureRequest
) -> None:
    """Ten times the grids, the same memory: rows are never all held at once."""
    peaks: dict[int, list[int]] = {}
    for count in (1_000, 10_000):
        export_file = tmp_path / f"{count}.jsonl"
        write_export(export_file, (exported_row(n) for n in range(1, count + 1)))
        source = (
            db_url
            if count == 10_000
            else f"sqlite:///{tmp_path / 'small.sqlite'}"  # the small run on SQLite is enough
        )
        status, err, imported = measured_cli(
            "--db-url", source, "import", str(export_file), stderr_tty=count == 10_000
        )
        assert status == 0, err
        status, err, exported = measured_cli(
            "--db-url", source, "export", str(tmp_path / f"{count}-again.jsonl")
        )
        assert status == 0, err
        status, err, copied = measured_cli(
            "--db-url", source, "copy", "--to", f"sqlite:///{tmp_path / f'copy-{count}.sqlite'}"
        )
        assert status == 0, err
        assert f"stored {count:,} grids" in err
        peaks[count] = [imported, exported, copied]
        exported_lines = (tmp_path / f"{count}-again.jsonl").read_text().splitlines()
        assert len(exported_lines) == count + 1
    growth_mb = [
        (big - small) / 1024 for small, big in zip(peaks[1_000], peaks[10_000], strict=True)
    ]
    # holding 10,000 of these rows takes hundreds of MB
    assert max(growth_mb) < 40, f"peak memory grew by {growth_mb} MB (import, export, copy)"


def test_progress_is_a_line_redrawn_on_a_terminal_and_plain_lines_otherwise(
    tmp_path: Path,
) -> None:
    export_file = tmp_path / "grids.jsonl"
    write_export(export_file, (exported_row(n) for n in range(1, 5_001)))
    status, err, _ = measured_cli(
        "--db-url",
        f"sqlite:///{tmp_path / 'tty.sqlite'}",
        "import",
        str(export_file),
        stderr_tty=True,
    )
    assert status == 0, err
    assert "\r" in err and "/s, " in err and " left" in err
    plain = blocks_cli(
        "--db-url", f"sqlite:///{tmp_path / 'plain.sqlite'}", "import", str(export_file)
    )
    assert plain.returncode == 0, plain.stderr
    assert "\r" not in plain.stderr and "stored 5,000 grids" in plain.stderr


def test_import_reports_bad_rows_and_stores_the_rest(tmp_path: Path, db_url: str) -> None:
    export_file = tmp_path / "grids.jsonl"
    write_export(
        export_file,
        [
            exported_row(1),
            exported_row(2, title="nul\x00here"),
            "{not json",
            exported_row(4, code_cells=["ok", "lone \udc80 surrogate"]),
            exported_row(5, author="a" * 300),
            exported_row(6, width="10"),
            exported_row(7),
        ],
        last_row_id=9,
    )
    result = blocks_cli("--db-url", db_url, "import", str(export_file))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "imported 2 grids" in result.stdout and "skipped 5 bad rows" in result.stdout
    for where, problem in [
        ("line 3", "title must not contain NUL"),
        ("line 4", "not JSON"),
        ("line 5", "code_cells must be valid Unicode"),
        ("line 6", "author must be at most 255 characters"),
        ("line 7", "width must be a int"),
    ]:
        assert f"skipped {where}: {problem}" in result.stderr
    exported = blocks_cli("--db-url", db_url, "export")
    header, *rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [row["id"] for row in rows] == [1, 7]
    assert header["last_row_id"] == 9  # grids deleted before the export keep their ids unused


def test_copy_of_an_old_sqlite_file_with_bad_rows_skips_them(tmp_path: Path, db_url: str) -> None:
    """An old SQLite file could hold what PostgreSQL refuses (NUL in a title, a lone
    surrogate in code): copying it reports those rows, copies the rest, keeps ids unused."""
    source = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = db.create_engine(source)
    try:
        db.upgrade(engine)
        with engine.begin() as connection:
            for row in [
                exported_row(1),
                exported_row(2, title="a\x00b"),
                exported_row(3, code_cells=["\ud800"]),
                exported_row(4),
                exported_row(5),
            ]:
                connection.execute(sa.insert(Grid), service.stored_row(row))
            connection.execute(sa.delete(Grid).where(Grid.id == 5))  # its id is never reused
    finally:
        engine.dispose()
    result = blocks_cli("--db-url", source, "copy", "--to", db_url)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "copied 2 grids" in result.stdout and "skipped 2 bad rows" in result.stdout
    assert "skipped grid row 2: title must not contain NUL" in result.stderr
    assert "skipped grid row 3: code_cells must be valid Unicode" in result.stderr
    target = db.create_engine(db_url)
    try:
        with target.begin() as connection:
            row = service.stored_row(exported_row(0))
            del row["id"]
            assert connection.execute(sa.insert(Grid).returning(Grid.id), row).scalar() == 6
    finally:
        target.dispose()


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No Jupyter config files or data directory from the machine (tests that rely on no
    JUPYTER_BLOCKS_DB_URL either remove it with `monkeypatch`)."""
    (tmp_path / "config").mkdir(exist_ok=True)
    env = {
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_CONFIG_PATH": "",
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
    }
    return {**env, **extra}


@pytest.mark.parametrize(
    "command", [["upgrade-db"], ["stats"], ["export"], ["audit", "--json"], ["audit"]]
)
def test_db_url_is_taken_after_the_command_as_before_it(tmp_path: Path, command: list[str]) -> None:
    """As the README writes it: `jupyter blocks audit --db-url URL`."""
    url = f"sqlite:///{tmp_path / 'after.sqlite'}"
    assert blocks_cli("--db-url", url, "upgrade-db").returncode == 0
    env = _clean_env(tmp_path)
    after = blocks_cli(*command, "--db-url", url, env=env)
    assert after.returncode == 0, after.stderr
    before = blocks_cli("--db-url", url, *command, env=env)
    assert before.returncode == 0, before.stderr
    assert after.stdout == before.stdout
    assert f"jupyter blocks {command[0]}: " in after.stderr and f"{url} (from --db-url)" in (
        after.stderr
    )
    # one option given before and none after: the one before counts
    assert "(from --db-url)" in before.stderr


def test_every_command_says_which_database_it_uses_and_hides_its_password(
    tmp_path: Path,
) -> None:
    secret = "pw-not-to-be-shown"
    url = f"postgresql+psycopg://blocks:{secret}@127.0.0.1:1/gallery"
    for command in (["stats"], ["audit"], ["export"], ["upgrade-db"], ["copy", "--to", url]):
        result = blocks_cli(*command, "--db-url", url, env=_clean_env(tmp_path))
        assert result.returncode != 0  # nothing listens on port 1
        first = result.stderr.splitlines()[0]
        assert first.startswith(f"jupyter blocks {command[0]}: "), result.stderr
        assert "postgresql+psycopg://blocks:***@127.0.0.1:1/gallery (from --db-url)" in first
        assert secret not in result.stderr + result.stdout


def test_the_database_line_says_where_the_url_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JUPYTER_BLOCKS_DB_URL", raising=False)
    from_env = f"sqlite:///{tmp_path / 'env.sqlite'}"
    assert blocks_cli("--db-url", from_env, "upgrade-db").returncode == 0
    result = blocks_cli("audit", env=_clean_env(tmp_path, JUPYTER_BLOCKS_DB_URL=from_env))
    assert f"reading {from_env} (from JUPYTER_BLOCKS_DB_URL)" in result.stderr

    from_config = f"sqlite:///{tmp_path / 'config.sqlite'}"
    env = _clean_env(tmp_path, JUPYTER_BLOCKS_DB_URL=from_env)
    (tmp_path / "config" / "jupyter_server_config.py").write_text(
        f"c.BlocksApp.db_url = {from_config!r}\n"
    )
    result = blocks_cli("stats", env=env)
    assert f"reading {from_config} (from c.BlocksApp.db_url" in result.stderr

    (tmp_path / "config" / "jupyter_server_config.py").unlink()
    result = blocks_cli("audit", env=_clean_env(tmp_path))
    default = tmp_path / "data" / "jupyter_blocks.sqlite"
    assert f"reading sqlite:///{default} (the default" in result.stderr


@pytest.mark.parametrize("command", ["audit", "stats", "export"])
def test_reading_a_sqlite_file_that_is_not_there_creates_nothing(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The laptop's default database, asked for by mistake, is not made and read as empty."""
    monkeypatch.delenv("JUPYTER_BLOCKS_DB_URL", raising=False)
    result = blocks_cli(command, env=_clean_env(tmp_path))
    default = tmp_path / "data" / "jupyter_blocks.sqlite"
    assert result.returncode == 1
    assert f"there is no database at {default}" in result.stderr
    assert "--db-url" in result.stderr.splitlines()[-1]
    assert not default.exists()


def test_reading_a_database_without_the_gallery_tables_says_so(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    engine = sa.create_engine(f"sqlite:///{other}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE notes (id INTEGER)"))
    engine.dispose()
    result = blocks_cli("audit", "--db-url", f"sqlite:///{other}", env=_clean_env(tmp_path))
    assert result.returncode == 1
    assert "holds no jupyter-blocks tables" in result.stderr
    assert "no such table" not in result.stderr


@pytest.mark.parametrize("command", ["audit", "stats"])
def test_audit_and_stats_warn_about_a_database_with_no_grids_and_no_deletions(
    tmp_path: Path, db_url: str, command: str
) -> None:
    assert blocks_cli("--db-url", db_url, "upgrade-db").returncode == 0
    empty = blocks_cli(command, "--db-url", db_url, env=_clean_env(tmp_path))
    assert empty.returncode == 0, empty.stderr
    warning = empty.stderr.splitlines()[-1]
    assert warning.startswith(f"jupyter blocks {command}: warning: ")
    assert "holds no grids and no deletions" in warning and "--db-url" in warning

    export = tmp_path / "one.jsonl"
    export.write_text(
        json.dumps({"jupyter_blocks_export": 1}) + "\n" + json.dumps(exported_row(7)) + "\n"
    )
    assert blocks_cli("--db-url", db_url, "import", str(export)).returncode == 0
    held = blocks_cli(command, "--db-url", db_url, env=_clean_env(tmp_path))
    assert held.returncode == 0, held.stderr
    assert "warning" not in held.stderr
    if command == "audit":
        assert "no grid was ever deleted" in held.stderr and "1 grids" in held.stderr

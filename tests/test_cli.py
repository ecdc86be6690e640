"""`jupyter blocks ...`: upgrade, stats, export, import and copy between databases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.utils import AUTHOR


def blocks_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_blocks.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


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

    ids = GridIds(header["hashids_salt"])
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

"""Configuration: traits, JUPYTER_BLOCKS_* environment variables, start-up checks, ids."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from jupyter_blocks import db
from jupyter_blocks.app import BlocksApp
from jupyter_blocks.ids import SECRET_NONCE_BITS, GridIds
from tests.utils import make_payload


class TestEnvironment:
    @pytest.fixture
    def jp_server_config(
        self, jp_server_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> dict[str, Any]:
        monkeypatch.setenv("JUPYTER_BLOCKS_PAGE_SIZE", "5")
        monkeypatch.setenv("JUPYTER_BLOCKS_MAX_TITLE_CHARS", "10")
        monkeypatch.setenv("JUPYTER_BLOCKS_HASHIDS_MIN_LENGTH", "12")
        monkeypatch.setenv("JUPYTER_BLOCKS_DEFAULT_AUTHOR", "from-env")
        jp_server_config["BlocksApp"]["default_author"] = "from-config"
        return jp_server_config

    async def test_environment_sets_traits_and_config_wins(
        self, jp_fetch: Any, blocks_app: Any
    ) -> None:
        assert blocks_app.page_size == 5
        assert blocks_app.max_title_chars == 10
        assert blocks_app.default_author == "from-config"
        response = await jp_fetch(
            "blocks",
            "api",
            "grids",
            method="POST",
            body=json.dumps(make_payload(title="eleven chars")),
            raise_error=False,
        )
        assert response.code == 400
        created = await jp_fetch(
            "blocks",
            "api",
            "grids",
            method="POST",
            body=json.dumps(make_payload(title="ten chars")),
        )
        assert len(json.loads(created.body)["id"]) >= 12


def test_default_database_is_a_sqlite_file_in_the_jupyter_data_dir(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path))
    app = BlocksApp(config=Config())
    assert app.db_url == f"sqlite:///{tmp_path / 'jupyter_blocks.sqlite'}"


def test_a_database_behind_the_schema_is_refused_without_auto_migrate(db_url: str) -> None:
    app = BlocksApp(config=Config({"BlocksApp": {"db_url": db_url, "auto_migrate": False}}))
    with pytest.raises(db.SchemaMismatch, match=r"jupyter blocks --db-url '.+' upgrade-db"):
        app.open_database()
    engine = db.create_engine(db_url)
    db.upgrade(engine)
    engine.dispose()
    app.open_database()  # now at head
    app.database.close()
    assert app.ids.public(1)


def test_servers_sharing_a_database_agree_on_ids(db_url: str, tmp_path: Any) -> None:
    first = BlocksApp(config=Config({"BlocksApp": {"db_url": db_url}}))
    second = BlocksApp(config=Config({"BlocksApp": {"db_url": db_url}}))
    first.open_database()
    second.open_database()
    assert first.ids.public(42) == second.ids.public(42)
    for app in (first, second):
        app.database.close()
    other_db = BlocksApp(
        config=Config({"BlocksApp": {"db_url": f"sqlite:///{tmp_path}/other.sqlite"}})
    )
    other_db.open_database()
    assert other_db.ids.public(42) != first.ids.public(42)
    other_db.database.close()


def test_secret_ids_carry_48_random_bits_and_do_not_decode_as_public() -> None:
    ids = GridIds("salt", 6)
    nonce = (1 << (SECRET_NONCE_BITS - 1)) + 12345
    secret = ids.secret(7, nonce)
    key = ids.decode(secret)
    assert key is not None and key.secret and (key.row_id, key.nonce) == (7, nonce)
    assert ids.decode(ids.public(7)) == type(key)(7)
    assert ids.decode("") is None
    assert ids.decode("x" * 65) is None
    assert ids.decode(GridIds("salt", 6)._hashids.encode(2**64)) is None
    assert ids.decode(ids._hashids.encode(1, 2, 3)) is None


class TestPublicUrl:
    @pytest.fixture
    def blocks_config(self) -> dict[str, Any]:
        return {"public_url": "https://hub.example.org/hub/"}

    async def test_page_urls_use_the_public_origin(self, jp_fetch: Any, jp_base_url: str) -> None:
        response = await jp_fetch("blocks", "post", method="POST", body=json.dumps(make_payload()))
        url = json.loads(response.body)["url"]
        assert url.startswith(f"https://hub.example.org{jp_base_url}blocks/")


def test_public_url_defaults_to_jupyterhubs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://alice.hub.example.org:8443/user/alice/")
    assert BlocksApp(config=Config()).public_origin == "https://alice.hub.example.org:8443"
    monkeypatch.delenv("JUPYTERHUB_PUBLIC_URL")
    assert BlocksApp(config=Config()).public_origin is None


def _child_processes() -> set[int]:
    """The processes this one started that are still there (other tests' too)."""
    children = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        with suppress(FileNotFoundError):  # a thread that ended meanwhile
            children |= {int(pid) for pid in (task / "children").read_text().split()}
    return children


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
async def test_the_extension_changes_nothing_process_wide_and_starts_no_process(
    jp_fetch: Any, blocks_app: Any, jp_serverapp: Any
) -> None:
    """A user's server belongs to them and to every other extension: serving posts, pages and
    reads leaves the collector, the logger levels and the threads' scheduling as they were, and
    starts no process."""
    levels = {name: logging.getLogger(name).level for name in ("", "tornado.access")}
    children = _child_processes()
    own_level = blocks_app.log.level
    for n in range(5):
        posted = await jp_fetch(
            "blocks", "api", "grids", method="POST", body=json.dumps(make_payload(title=f"{n}"))
        )
        grid_id = json.loads(posted.body)["id"]
        await jp_fetch("blocks", grid_id)
        await jp_fetch("blocks", "get", grid_id)
        await jp_fetch("blocks", "api", "grids")
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert {name: logging.getLogger(name).level for name in levels} == levels
    assert blocks_app.log.level == own_level
    assert _child_processes() <= children
    if hasattr(os, "sched_getscheduler"):
        policies = {os.sched_getscheduler(thread.native_id) for thread in threading.enumerate()}
        assert policies == {os.SCHED_OTHER}


def test_loading_the_extension_loads_no_library_that_only_some_requests_need() -> None:
    """Pillow (drawing), Pygments (highlighting), Alembic and Mako (migrations) take memory in
    every user's server: they are loaded by the first request that needs them, not at start-up."""
    loads = (
        "import sys, jupyter_blocks.app, jupyter_blocks.handlers; "
        "print(sorted({name.split('.')[0] for name in sys.modules}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", loads], capture_output=True, text=True, check=True
    ).stdout
    assert not {"PIL", "pygments", "alembic", "mako", "jupyterhub"} & set(
        json.loads(loaded.replace("'", '"'))
    )

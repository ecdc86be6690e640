"""The class gallery on a real JupyterHub, as tests/test_hub_service.py and the browser tests of
the panel on a Hub use it (one per session: `gallery_hub` in tests/conftest.py).

The Hub's config is a base config (its own test-admin service, roles and spawner settings) plus
exactly what `jupyter blocks hub-config` prints; the service alone holds a real PostgreSQL
database that already holds a gallery. Users alice, bob and a moderator (in the Hub group
blocks-moderators) work through their own servers, kernels and browser sessions.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

from jupyter_blocks import db
from jupyter_blocks.ids import GridIds
from jupyter_blocks.service import SALT_SETTING, create_grid, instance_setting
from jupyter_blocks.validation import Limits, PayloadValidator
from tests import hubs
from tests.utils import free_port, grid_payload, wait_until

USERS = ("alice", "bob", "mod")
SERVICE = "blocks"
DB_PASSWORD = "pw-" + secrets.token_hex(12)
POOL_SIZE = 10


@dataclass
class Hub(hubs.Hub):
    db_url: str = ""
    old_grid: dict[str, Any] = field(default_factory=dict)

    def gallery(self, path: str) -> str:
        return f"{self.url}services/{SERVICE}/blocks/{path}"

    def browser(self, name: str) -> requests.Session:
        """A browser session logged in to the Hub as `name` (cookies, no token)."""
        return hubs.logged_in(self.url, name)

    def authorize(self, browser: requests.Session, page: requests.Response) -> requests.Response:
        """Click "Authorize" on the Hub's page asking a user to let a shared server in."""
        if "/hub/api/oauth2/authorize" not in page.url:
            return page
        form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
        return browser.post(page.url, data=form, timeout=60)

    def grid(self, grid_id: str) -> dict[str, Any]:
        response = self.as_user("alice").get(self.gallery(f"api/grids/{grid_id}"), timeout=30)
        assert response.status_code == 200, response.text
        return dict(response.json())


def _gallery_database(server_url: str) -> str:
    """A database owned by a role with a password, as an admin would make for the service."""
    name = f"blocks_hub_{secrets.token_hex(4)}"
    admin = server_url.replace("+psycopg", "") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{DB_PASSWORD}'")
        conn.execute(f'CREATE DATABASE "{name}" OWNER {name}')
    host = server_url.split("@", 1)[1]
    return f"postgresql+psycopg://{name}:{DB_PASSWORD}@{host}/{name}"


def _existing_gallery(db_url: str) -> dict[str, Any]:
    """A gallery that was in the shared database before the service took it over."""
    database = db.Database(db_url, connections=2)
    try:
        db.upgrade(database.engine)
        new = PayloadValidator(Limits()).validate(json.dumps(grid_payload(3)).encode())
        with db.session_context(database.sessions) as session:
            grid = create_grid(session, new, "carol")
            salt = instance_setting(session, SALT_SETTING) or ""
            return {"id": GridIds(salt).public(grid.id), "grid_data": new.grid_data}
    finally:
        database.close()


@contextmanager
def running_gallery_hub(home: Path, postgres_server: str) -> Iterator[Hub]:
    """The Hub with the gallery service, its users' servers started (see the module's text)."""
    db_url = _gallery_database(postgres_server)
    old_grid = _existing_gallery(db_url)
    public_url = f"http://127.0.0.1:{free_port()}/"
    fragment = hubs.hub_config(
        db_url,
        "--port",
        str(free_port()),
        "--name",
        SERVICE,
        "--public-url",
        public_url,
        "--pool-size",
        str(POOL_SIZE),
    )
    admins_own_settings = """
c.Spawner.environment = {"PYTHONWARNINGS": "ignore"}
# users may share their servers (JupyterHub 5)
c.JupyterHub.load_roles.append({"name": "user", "scopes": ["self", "shares!user"]})
"""
    port = int(public_url.rsplit(":", 1)[1].strip("/"))
    with hubs.running_hub(home, USERS, admins_own_settings + fragment, port=port) as running:
        made = running.admin.post(
            f"{running.url}hub/api/groups/blocks-moderators", json={"users": ["mod"]}, timeout=30
        )
        assert made.status_code == 201, made.text
        hub = Hub(
            running.url, running.admin, running.tokens, home, db_url, old_grid, pid=running.pid
        )
        wait_until(
            lambda: hub.as_user("alice").get(hub.gallery("api/me"), timeout=5).ok,
            "the gallery service did not answer",
        )
        yield hub

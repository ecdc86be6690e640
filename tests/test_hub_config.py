"""`jupyter blocks hub-config`: the fragment adds to an admin's JupyterHub config, never replaces.

Each case is a real jupyterhub_config.py (a base plus exactly what the command prints) loaded
by traitlets as JupyterHub loads it; the live Hub test (test_hub_service.py) runs one of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config
from traitlets.config.loader import LazyConfigValue, PyFileConfigLoader

DB_URL = "postgresql+psycopg://blocks:s3cret@db.example.org/blocks"
ACCESS = "access:services!service=blocks"


def hub_config(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_blocks.cli", "hub-config", "--db-url", DB_URL, *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def load(tmp_path: Path, base: str, fragment: str) -> Config:
    (tmp_path / "jupyterhub_config.py").write_text(base + "\n" + fragment)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(tmp_path)).load_config()


def value(config_value: Any, initial: Any) -> Any:
    """What the trait ends up holding (lazy `.append`/`.update` applied to its default)."""
    if isinstance(config_value, LazyConfigValue):
        return config_value.get_value(initial)
    return config_value


def role(config: Config, name: str) -> dict[str, Any]:
    return next(r for r in value(config.JupyterHub.load_roles, []) if r["name"] == name)


def test_on_an_empty_config_it_is_the_whole_set_up(tmp_path: Path) -> None:
    config = load(tmp_path, "", hub_config("--public-url", "https://hub.example.org/"))
    (service,) = value(config.JupyterHub.services, [])
    assert service["name"] == "blocks" and service["url"] == "http://127.0.0.1:10101"
    assert service["command"][-2:] == ["jupyter_blocks.cli", "serve"]
    assert service["environment"]["JUPYTER_BLOCKS_DB_URL"] == DB_URL
    assert service["environment"]["JUPYTER_BLOCKS_PUBLIC_URL"] == "https://hub.example.org/"
    assert service["oauth_no_confirm"] is True
    assert role(config, "user")["scopes"] == ["self", ACCESS]
    assert role(config, "jupyter-blocks-service") == {
        "name": "jupyter-blocks-service",
        "scopes": ["read:users"],
        "services": ["blocks"],
    }
    assert config.Spawner.server_token_scopes == [
        "users:activity!user",
        "access:servers!server",
        ACCESS,
    ]
    environment = value(config.Spawner.environment, {})
    assert environment == {"JUPYTER_BLOCKS_SERVICE_URL": "http://127.0.0.1:10101/services/blocks/"}
    # users' servers get where the service is, never the database
    assert "s3cret" not in repr(environment) + repr(config.Spawner.server_token_scopes)


ADMIN_CONFIG = """
c.JupyterHub.services = [{"name": "announcements", "url": "http://127.0.0.1:9999"}]
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", "shares!user"]},
    {"name": "teachers", "scopes": ["admin-ui"], "groups": ["teachers"]},
]
c.Spawner.environment = {"TZ": "Europe/Paris"}
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", "read:users"]
"""

APPENDING_CONFIG = """
c.JupyterHub.services.append({"name": "announcements", "url": "http://127.0.0.1:9999"})
c.JupyterHub.load_roles.append({"name": "teachers", "scopes": ["admin-ui"]})
c.Spawner.environment.update({"TZ": "Europe/Paris"})
"""


@pytest.mark.parametrize("base", [ADMIN_CONFIG, APPENDING_CONFIG], ids=["assigned", "appended"])
def test_it_adds_to_an_admins_services_roles_and_spawner_settings(
    tmp_path: Path, base: str
) -> None:
    config = load(tmp_path, base, hub_config("--name", "gallery", "--port", "10200"))
    services = value(config.JupyterHub.services, [])
    assert [s["name"] for s in services] == ["announcements", "gallery"]
    assert role(config, "teachers")["scopes"] == ["admin-ui"]
    access = "access:services!service=gallery"
    assert access in role(config, "user")["scopes"] and "self" in role(config, "user")["scopes"]
    assert value(config.Spawner.environment, {}) == {
        "TZ": "Europe/Paris",
        "JUPYTER_BLOCKS_SERVICE_URL": "http://127.0.0.1:10200/services/gallery/",
    }
    assert access in config.Spawner.server_token_scopes


def test_an_admins_user_role_keeps_its_scopes(tmp_path: Path) -> None:
    config = load(tmp_path, ADMIN_CONFIG, hub_config())
    assert role(config, "user")["scopes"] == ["self", "shares!user", ACCESS]
    assert config.Spawner.server_token_scopes == [
        "users:activity!user",
        "access:servers!server",
        "read:users",
        ACCESS,
    ]


def test_serve_outside_a_hub_says_what_to_do() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_blocks.cli", "serve"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode != 0
    assert "runs as a JupyterHub-managed service" in result.stderr
    assert "jupyter blocks hub-config" in result.stderr
    assert "Traceback" not in result.stderr


def test_hub_config_needs_the_database_url() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_blocks.cli", "hub-config"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "hub-config needs --db-url" in result.stderr

"""The class gallery on a real JupyterHub with `c.JupyterHub.subdomain_host`, for
tests/test_hub_subdomains.py and tests/browser/test_hub_subdomains.py.

There is no DNS here: the Hub's domain is `hub.test`, users' servers are at
`<user>.hub.test:<port>` and the service at `blocks--service.hub.test:<port>`, all on the
Hub's proxy at 127.0.0.1:<port>. Python clients send the `Host` header; Chromium maps the
names with `--host-resolver-rules`. The Hub's config is the base config plus exactly what
`jupyter blocks hub-config --subdomain-host http://hub.test:<port>` prints; the service keeps
its grids in a SQLite file (the origins are what is tested here, not the database).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests import hubs
from tests.utils import free_port, wait_until

USERS = ("alice", "bob")
SERVICE = "blocks"
DOMAIN = "hub.test"


@dataclass
class SubdomainHub(hubs.Hub):
    port: int = 0

    def origin(self, label: str | None = None) -> str:
        """http://[label.]hub.test:port"""
        host = f"{label}.{DOMAIN}" if label else DOMAIN
        return f"http://{host}:{self.port}"

    @property
    def service_origin(self) -> str:
        return self.origin(f"{SERVICE}--service")

    def gallery_url(self, path: str) -> str:
        """The service's blocks/ URL as browsers open it (on its own host)."""
        return f"{self.service_origin}/services/{SERVICE}/blocks/{path}"

    def request(
        self, method: str, url: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """`method` `url` (on a hub.test host) sent to the Hub's proxy on 127.0.0.1 with that
        `Host`, with `token`'s Authorization if given; redirects are not followed."""
        scheme, rest = url.split("://", 1)
        host, _, path = rest.partition("/")
        headers = {"Host": host, **kwargs.pop("headers", {})}
        if token is not None:
            headers["Authorization"] = f"token {token}"
        return requests.request(
            method,
            f"{scheme}://127.0.0.1:{self.port}/{path}",
            headers=headers,
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )


def hub_config_fragment(port: int, db_url: str) -> str:
    return hubs.hub_config(
        db_url,
        "--port",
        str(free_port()),
        "--name",
        SERVICE,
        "--subdomain-host",
        f"http://{DOMAIN}:{port}",
    )


@contextmanager
def running_subdomain_hub(home: Path) -> Iterator[SubdomainHub]:
    port = free_port()
    fragment = hub_config_fragment(port, f"sqlite:///{home}/blocks.sqlite")
    admins_own_settings = """
c.Spawner.environment = {"PYTHONWARNINGS": "ignore"}
# users may share their servers (JupyterHub 5)
c.JupyterHub.load_roles.append({"name": "user", "scopes": ["self", "shares!user"]})
"""
    with hubs.running_hub(home, USERS, admins_own_settings + fragment, port=port) as running:
        hub = SubdomainHub(
            running.url, running.admin, running.tokens, home, pid=running.pid, port=port
        )
        wait_until(
            lambda: hub.request("GET", hub.gallery_url("api/me"), hub.tokens["alice"]).ok,
            "the gallery service did not answer on its own host",
        )
        yield hub

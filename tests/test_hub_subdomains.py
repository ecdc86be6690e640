"""The gallery service on a real JupyterHub with `c.JupyterHub.subdomain_host`
(tests/subdomain_hub.py): it has a host of its own, answers cross-origin requests (CORS with
credentials) from the requesting user's own server's origin alone, and its redirects and
links name the right hosts. The panel in a browser: tests/browser/test_hub_subdomains.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyterhub.utils import subdomain_hook_idna
from requests.structures import CaseInsensitiveDict
from traitlets import TraitError

from jupyter_blocks.hub.server import GalleryIdentityProvider, UserOrigins
from tests import hubs
from tests.subdomain_hub import DOMAIN, SubdomainHub, running_subdomain_hub
from tests.utils import grid_payload


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SubdomainHub]:
    with running_subdomain_hub(tmp_path_factory.mktemp("subdomain-hub")) as running:
        yield running


def preflight(hub: SubdomainHub, origin: str, method: str = "DELETE") -> CaseInsensitiveDict[str]:
    answer = hub.request(
        "OPTIONS",
        hub.gallery_url("api/grids/abc123"),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,x-xsrftoken",
        },
    )
    return CaseInsensitiveDict({"status": str(answer.status_code), **answer.headers})


def test_preflight_is_answered_for_the_origins_of_users_servers(hub: SubdomainHub) -> None:
    headers = preflight(hub, hub.origin("alice"))
    assert headers["status"] in ("200", "204"), headers
    assert headers.get("Access-Control-Allow-Origin") == hub.origin("alice"), headers
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "DELETE" in headers["Access-Control-Allow-Methods"]
    assert "x-xsrftoken" in headers["Access-Control-Allow-Headers"].lower()
    assert "Origin" in headers["Vary"]


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.test:{port}",
        "http://{domain}.evil.test:{port}",
        "http://alice.{domain}:1",  # another port
        "https://alice.{domain}:{port}",  # another scheme
        "http://alice.{domain}:{port}/path",
        "null",
        "http://{domain}:{port}",  # the Hub's own host
    ],
)
def test_preflight_from_any_other_origin_is_refused(hub: SubdomainHub, origin: str) -> None:
    origin = origin.format(port=hub.port, domain=DOMAIN)
    headers = preflight(hub, origin)
    assert headers["status"] == "403", headers
    assert "Access-Control-Allow-Origin" not in headers


def test_a_request_from_the_users_own_server_origin_is_admitted_for_that_user_alone(
    hub: SubdomainHub,
) -> None:
    alice, bob = hub.tokens["alice"], hub.tokens["bob"]
    own = hub.request(
        "GET", hub.gallery_url("api/me"), alice, headers={"Origin": hub.origin("alice")}
    )
    assert own.status_code == 200, own.text
    assert own.json()["author"] == "alice"
    assert own.headers["Access-Control-Allow-Origin"] == hub.origin("alice")
    assert own.headers["Access-Control-Allow-Credentials"] == "true"

    # alice's request from bob's server's origin (a page bob serves, opened by alice)
    posted = hub.request(
        "POST",
        hub.gallery_url("api/grids"),
        alice,
        headers={"Origin": hub.origin("bob")},
        json=grid_payload(3, title="from bob's page"),
    )
    assert posted.status_code == 403, posted.text
    assert "Access-Control-Allow-Origin" not in posted.headers
    assert set(posted.json()) == {"message", "errors"}
    listed = hub.request("GET", hub.gallery_url("api/grids?author=alice"), alice).json()
    assert all(item["title"] != "from bob's page" for item in listed["items"])

    # and bob's own origin is his alone
    mine = hub.request("GET", hub.gallery_url("api/me"), bob, headers={"Origin": hub.origin("bob")})
    assert mine.status_code == 200 and mine.json()["author"] == "bob"
    theirs = hub.request(
        "GET", hub.gallery_url("api/me"), bob, headers={"Origin": hub.origin("alice")}
    )
    assert theirs.status_code == 403
    assert "Access-Control-Allow-Origin" not in theirs.headers


def test_a_websocket_from_another_users_origin_is_refused(hub: SubdomainHub) -> None:
    def handshake(token: str, origin: str) -> int:
        return hub.request(
            "GET",
            hub.gallery_url("api/events"),
            token,
            headers={
                "Origin": origin,
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
            stream=True,
        ).status_code

    assert handshake(hub.tokens["alice"], hub.origin("alice")) == 101
    assert handshake(hub.tokens["alice"], hub.origin("bob")) == 403


def test_the_users_server_redirects_to_the_service_on_its_own_host(hub: SubdomainHub) -> None:
    answer = hub.request(
        "GET",
        f"{hub.origin('alice')}/user/alice/blocks/api/grids?limit=2",
        hub.tokens["alice"],
    )
    assert answer.status_code == 307, answer.text
    assert answer.headers["Location"] == hub.gallery_url("api/grids?limit=2")


def test_the_panel_is_told_the_service_url_on_its_own_host(hub: SubdomainHub) -> None:
    lab = hub.request("GET", f"{hub.origin('alice')}/user/alice/lab", hub.tokens["alice"])
    assert lab.status_code == 200, lab.text[:300]
    assert f'"jupyterBlocksServiceUrl": "{hub.gallery_url("")}"' in lab.text


def test_pages_open_jupyterlab_through_the_hubs_own_host(hub: SubdomainHub) -> None:
    page = hub.request("GET", hub.gallery_url(""), hub.tokens["alice"])
    assert page.status_code == 200, page.text[:300]
    assert f'href="{hub.origin()}/hub/user-redirect/lab"' in page.text


def test_the_session_page_posts_to_the_users_own_origin_and_may_be_framed_there_alone(
    hub: SubdomainHub,
) -> None:
    page = hub.request("GET", hub.gallery_url("session"), hub.tokens["bob"])
    assert page.status_code == 200, page.text[:300]
    assert f'data-target-origin="{hub.origin("bob")}"' in page.text
    csp = page.headers["Content-Security-Policy"]
    assert f"frame-ancestors {hub.origin('bob')};" in csp


def test_kernels_post_to_the_service_as_before(hub: SubdomainHub) -> None:
    output = hubs.run_in_kernel(
        hub.url,
        "alice",
        hub.tokens["alice"],
        "%load_ext jupyter_blocks\n"
        "from ipythonblocks import BlockGrid\n"
        "print(BlockGrid(2, 2).post_to_web())\n",
        host=hub.origin("alice").split("://", 1)[1],
    )
    url = output.strip().splitlines()[-1]
    assert url.startswith(hub.gallery_url("")), url  # the page's link: the service's own host
    grid_id = url.rstrip("/").rsplit("/", 1)[1]
    record = hub.request("GET", hub.gallery_url(f"api/grids/{grid_id}"), hub.tokens["alice"])
    assert record.status_code == 200, record.text
    assert record.json()["author"] == "alice"


def test_hub_config_warns_without_subdomains_and_sets_the_service_user(tmp_path: Path) -> None:
    def hub_config(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyter_blocks.cli",
                "hub-config",
                "--db-url",
                "sqlite://",
                *options,
            ],
            check=True,
            capture_output=True,
            text=True,
        )

    plain = hub_config()
    assert "disable_user_config" in plain.stderr
    assert "# c.Spawner.disable_user_config = True" in plain.stdout
    with_subdomains = hub_config(
        "--subdomain-host",
        "https://hub.example.org",
        "--service-user",
        "blocks-service",
        "--public-url",
        "https://hub.example.org/",
    )
    assert "disable_user_config" not in with_subdomains.stderr

    def loaded(fragment: str) -> tuple[dict[str, Any], str]:
        """The config a Hub loads from `fragment` (subdomain host, the service's entry, the
        servers' environment), and what loading it said on stderr."""
        script = tmp_path / "jupyterhub_config.py"
        script.write_text(fragment)
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                "import json, runpy, traitlets.config as t; c = t.Config(); "
                f"runpy.run_path({str(script)!r}, {{'c': c}}); "
                "print(json.dumps({'subdomain_host': c.JupyterHub.get('subdomain_host', ''), "
                "'service': c.JupyterHub.services.get_value([])[-1], "
                "'spawner_environment': c.Spawner.environment.get_value({})}, "
                "default=lambda unset: ''))",  # (a LazyConfigValue: a setting read, not set)
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(run.stdout), run.stderr

    config, said = loaded(plain.stdout)
    assert "disable_user_config" in said  # in the Hub's log, each time it starts
    assert not config["subdomain_host"]
    assert "user" not in config["service"]
    assert "JUPYTER_BLOCKS_SUBDOMAIN_HOST" not in config["service"]["environment"]
    assert "JUPYTER_BLOCKS_PUBLIC_URL" not in config["service"]["environment"]  # no host named
    assert "JUPYTER_BLOCKS_SERVICE_PUBLIC_URL" not in config["spawner_environment"]

    # the Hub's own subdomain_host set above the fragment, without a scheme (https, as the
    # Hub reads it)
    config, said = loaded('c.JupyterHub.subdomain_host = "hub.example.org"\n' + plain.stdout)
    assert "disable_user_config" not in said
    assert config["service"]["environment"]["JUPYTER_BLOCKS_SUBDOMAIN_HOST"] == (
        "https://hub.example.org"
    )
    assert config["spawner_environment"]["JUPYTER_BLOCKS_SERVICE_PUBLIC_URL"] == (
        "https://blocks--service.hub.example.org/services/blocks/"
    )

    # without subdomains but with users' config off, as recommended: nothing more to say
    config, said = loaded("c.Spawner.disable_user_config = True\n" + plain.stdout)
    assert "disable_user_config" not in said

    config, said = loaded(with_subdomains.stdout)
    assert "disable_user_config" not in said
    assert config["subdomain_host"] == "https://hub.example.org"
    assert config["service"]["user"] == "blocks-service"
    assert config["service"]["environment"]["JUPYTER_BLOCKS_SUBDOMAIN_HOST"] == (
        "https://hub.example.org"
    )
    service_public_url = "https://blocks--service.hub.example.org/services/blocks/"
    assert config["spawner_environment"]["JUPYTER_BLOCKS_SERVICE_PUBLIC_URL"] == service_public_url
    # page URLs handed out name the service's own host, not the Hub's
    assert config["service"]["environment"]["JUPYTER_BLOCKS_PUBLIC_URL"] == service_public_url


def test_the_service_reads_subdomain_host_as_the_hub_does() -> None:
    assert GalleryIdentityProvider(subdomain_host="hub.example.org").subdomain_host == (
        "https://hub.example.org"
    )
    with pytest.raises(TraitError):
        GalleryIdentityProvider(subdomain_host="ftp://hub.example.org")
    # the origin a browser sends: no default port; names the Hub encodes, encoded as it does
    origins = UserOrigins("https://hub.example.org:443")
    assert origins.of("alice") == "https://alice.hub.example.org"
    assert origins.of("Zoë") == f"https://{subdomain_hook_idna('Zoë', 'hub.example.org', 'user')}"
    assert origins.could_be_a_users("https://alice.hub.example.org")
    assert not origins.could_be_a_users("https://alice.hub.example.org:443")  # not as sent
    assert not origins.could_be_a_users("https://hub.example.org")

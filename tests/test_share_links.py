"""Share links on a JupyterHub with no public URL configured (issue 21, point 5).

The Hub listens on a free port (not 8000) and its config is a base config plus what
`jupyter blocks hub-config` prints without `--public-url`, with no `c.JupyterHub.public_url`:
nothing in it names where people open the Hub. People here open it as `localhost:<port>`, a
name nothing in the config holds (the Hub, the proxy, the service and users' servers are all
configured on 127.0.0.1), so a link that names it was made from what the browser used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from jupyter_blocks.kernel_env import ORIGIN_HEADER
from tests import hubs
from tests.gallery_hub import _gallery_database
from tests.utils import free_port, grid_payload, wait_until

USERS = ("alice", "bob", "carol")
SERVICE = "blocks"


class LinksHub:
    """The running Hub, as its users reach it: at `public` (`http://localhost:<port>/`)."""

    def __init__(self, hub: hubs.Hub, service_port: int) -> None:
        self.hub = hub
        self.port = urlsplit(hub.url).port
        self.public = f"http://localhost:{self.port}/"
        self.service_port = service_port

    def gallery(self, path: str = "", at: str | None = None) -> str:
        return f"{at or self.public}services/{SERVICE}/blocks/{path}"

    def as_user(self, name: str) -> requests.Session:
        return self.hub.as_user(name)

    def browser(self, name: str) -> requests.Session:
        """A browser session logged in to the Hub at `public` as `name` (cookies, no token)."""
        return hubs.logged_in(self.public, name)

    def kernel(self, name: str, code: str) -> str:
        """The output of `code` run in a new kernel on `name`'s server."""
        return hubs.run_in_kernel(self.hub.url, name, self.hub.tokens[name], code)


def hub_config_fragment(db_url: str, service_port: int) -> str:
    return hubs.hub_config(db_url, "--port", str(service_port), "--name", SERVICE)


@pytest.fixture(scope="module")
def links_hub(tmp_path_factory: pytest.TempPathFactory, postgres_server: str) -> Iterator[LinksHub]:
    home = tmp_path_factory.mktemp("links-hub")
    service_port, hub_port = free_port(), free_port()
    assert hub_port != 8000
    fragment = hub_config_fragment(_gallery_database(postgres_server), service_port)
    admins_own_settings = 'c.Spawner.environment = {"PYTHONWARNINGS": "ignore"}\n'
    with hubs.running_hub(home, USERS, admins_own_settings + fragment, port=hub_port) as hub:
        running = LinksHub(hub, service_port)
        wait_until(
            lambda: running.as_user("alice").get(running.gallery("api/me"), timeout=5).ok,
            "the gallery service did not answer",
        )
        yield running


def test_hub_config_without_public_url_names_no_host() -> None:
    fragment = hub_config_fragment("sqlite:////tmp/gallery.sqlite", 10101)
    assert "8000" not in fragment
    # (the setting appears only where a Hub with subdomains computes the service's own host)
    assert '"JUPYTER_BLOCKS_PUBLIC_URL": \'' not in fragment
    chosen = hubs.hub_config("sqlite://", "--public-url", "https://hub.example.org/")
    assert "\"JUPYTER_BLOCKS_PUBLIC_URL\": 'https://hub.example.org/'" in chosen


def post_through_hub(links_hub: LinksHub, name: str, **changes: object) -> dict[str, object]:
    """A grid posted by `name` through the Hub's proxy with a token (a script's way)."""
    posted = links_hub.as_user(name).post(
        links_hub.gallery("api/grids", at=links_hub.hub.url),
        json={**grid_payload(2), **changes},
        timeout=30,
    )
    assert posted.status_code == 201, posted.text
    return dict(posted.json())


def hrefs(page: requests.Response) -> list[str]:
    """The page's links, as the browser that opened it resolves them."""
    return [urljoin(page.url, href) for href in re.findall(r'href="([^"]+)"', page.text)]


def test_pages_and_records_link_the_host_the_browser_opened(links_hub: LinksHub) -> None:
    parent = post_through_hub(links_hub, "alice", title="the parent")
    remix = post_through_hub(links_hub, "bob", title="the remix", parent=parent["id"])
    browser = links_hub.browser("carol")
    grid_pages = links_hub.gallery()

    remix_page = browser.get(links_hub.gallery(str(remix["id"])), timeout=30)
    assert remix_page.status_code == 200
    assert remix_page.url.startswith(links_hub.public)
    assert grid_pages + str(parent["id"]) in hrefs(remix_page)
    parent_page = browser.get(links_hub.gallery(str(parent["id"])), timeout=30)
    assert grid_pages + str(remix["id"]) in hrefs(parent_page)
    gallery_page = browser.get(grid_pages, timeout=30)
    assert grid_pages + str(remix["id"]) in hrefs(gallery_page)

    record = browser.get(links_hub.gallery(f"api/grids/{parent['id']}"), timeout=30).json()
    assert record["url"] == grid_pages + str(parent["id"])
    assert [r["url"] for r in record["remixes"]] == [grid_pages + str(remix["id"])]
    listing = browser.get(links_hub.gallery("api/grids"), timeout=30).json()
    assert listing["items"][0]["url"] == grid_pages + str(remix["id"])
    # nothing links the service's own address, the Hub's configured one, or a made-up one
    for answer in (remix_page.text, parent_page.text, gallery_page.text, str(record)):
        assert f":{links_hub.service_port}" not in answer
        assert "127.0.0.1" not in answer and ":8000" not in answer


POST_FROM_KERNEL = """
from ipythonblocks import BlockGrid
grid = BlockGrid(4, 3, fill=(10, 200, 30))
grid[1, 2].rgb = (250, 0, 0)
print(grid.post_to_web())
"""


def test_a_kernel_posts_a_link_that_opens_where_its_users_browser_opens_the_hub(
    links_hub: LinksHub,
) -> None:
    browser = links_hub.browser("alice")
    lab = browser.get(f"{links_hub.public}user/alice/lab", timeout=60)
    assert lab.status_code == 200 and lab.url == f"{links_hub.public}user/alice/lab"

    url = links_hub.kernel("alice", POST_FROM_KERNEL).strip()

    assert url.startswith(links_hub.gallery()), url
    page = browser.get(url, timeout=30)
    assert page.status_code == 200 and page.url == url
    assert "alice" in page.text
    grid_id = url.rsplit("/", 1)[1]
    record = browser.get(links_hub.gallery(f"api/grids/{grid_id}"), timeout=30).json()
    assert record["author"] == "alice"
    assert (record["width"], record["height"]) == (4, 3)
    assert record["grid_data"]["blocks"][1][2][:3] == [250, 0, 0]


def test_a_kernel_whose_user_opened_no_page_gets_a_path_not_a_guessed_host(
    links_hub: LinksHub,
) -> None:
    # bob has not opened JupyterLab: his server knows no browser's host, nor does the service
    path = links_hub.kernel("bob", POST_FROM_KERNEL).strip()

    assert path.startswith(f"/services/{SERVICE}/blocks/"), path
    page = links_hub.browser("bob").get(urljoin(links_hub.public, path), timeout=30)
    assert page.status_code == 200 and "bob" in page.text


def test_a_users_server_tells_its_browsers_origin_to_its_owner_only(links_hub: LinksHub) -> None:
    origin_url = f"{links_hub.hub.url}user/alice/blocks/browser-origin"
    links_hub.browser("alice").get(f"{links_hub.public}user/alice/lab", timeout=60)

    answer = links_hub.as_user("alice").get(origin_url, timeout=30)
    assert answer.status_code == 200
    assert answer.json() == {"origin": links_hub.public.rstrip("/")}
    # bob may not use alice's server, nor ask it anything
    assert links_hub.as_user("bob").get(origin_url, timeout=30).status_code in (403, 404)
    assert requests.get(origin_url, timeout=30, allow_redirects=False).status_code in (302, 403)


def test_a_forged_host_does_not_change_what_another_user_is_served(links_hub: LinksHub) -> None:
    parent = post_through_hub(links_hub, "alice", title="a parent")
    remix = post_through_hub(links_hub, "alice", title="a remix", parent=parent["id"])
    forged = {"Host": "evil.example:666"}
    paths = [str(parent["id"]), str(remix["id"]), "", f"api/grids/{parent['id']}", "api/grids"]
    # carol forges with her token, as a script can; bob opens the same in his browser
    carol, bob = links_hub.as_user("carol"), links_hub.browser("bob")
    assert bob.get(links_hub.gallery(), timeout=30).status_code == 200  # (the Hub's OAuth)
    for path in paths:
        # carol's forged requests come first (recent reads are kept for 2 s), then bob's
        answer = carol.get(links_hub.gallery(path), headers=forged, timeout=30)
        assert answer.status_code == 200, answer.text
        if path.startswith("api/"):  # her own answer names her host; pages name none
            assert "http://evil.example:666/" in answer.text
        else:
            assert "evil.example" not in answer.text
        named = carol.get(
            links_hub.gallery(path), headers={ORIGIN_HEADER: "https://evil.example"}, timeout=30
        )
        assert named.status_code == 200, named.text
        served = bob.get(links_hub.gallery(path), timeout=30)
        assert served.status_code == 200
        assert "evil.example" not in served.text
        if path.startswith("api/"):
            assert links_hub.gallery() in served.text


def test_an_origin_header_that_is_no_origin_is_refused_and_nothing_is_stored(
    links_hub: LinksHub,
) -> None:
    session = links_hub.as_user("alice")
    before = session.get(links_hub.gallery("api/grids", at=links_hub.hub.url), timeout=30).json()
    for bad in ("javascript:alert(1)", "http://h/x", "http://u@h", "h:80", ""):
        posted = session.post(
            links_hub.gallery("post", at=links_hub.hub.url),
            data=json.dumps(grid_payload(1)),
            headers={ORIGIN_HEADER: bad},
            timeout=30,
        )
        assert posted.status_code == 400, posted.text
        assert posted.json()["errors"][0]["path"] == ORIGIN_HEADER
    after = session.get(links_hub.gallery("api/grids", at=links_hub.hub.url), timeout=30).json()
    assert after["items"] == before["items"]


class TestWithAConfiguredPublicUrl:
    """The admin's choice (`public_url`, `--public-url`) is the one origin: a named one is not."""

    @pytest.fixture
    def blocks_config(self) -> dict[str, Any]:
        return {"public_url": "https://hub.example.org/"}

    async def test_a_named_origin_changes_nothing(self, jp_fetch: Any, jp_base_url: str) -> None:
        response = await jp_fetch(
            "blocks",
            "post",
            method="POST",
            body=json.dumps(grid_payload(1)),
            headers={ORIGIN_HEADER: "http://elsewhere.example:8080"},
        )
        assert json.loads(response.body)["url"].startswith(
            f"https://hub.example.org{jp_base_url}blocks/"
        )


async def test_a_named_origin_makes_that_answers_urls_alone(
    jp_fetch: Any, jp_base_url: str
) -> None:
    """Without a configured one, on any server: a named origin makes that answer's URLs."""
    named = {ORIGIN_HEADER: "https://Hub.Example.org:8443"}
    posted = await jp_fetch(
        "blocks", "api", "grids", method="POST", body=json.dumps(grid_payload(1)), headers=named
    )
    record = json.loads(posted.body)
    assert record["url"] == f"https://hub.example.org:8443{jp_base_url}blocks/{record['id']}"
    listed = json.loads((await jp_fetch("blocks", "api", "grids")).body)
    # the next request names none: its own host
    assert listed["items"][0]["url"].startswith("http://")
    assert "hub.example.org" not in listed["items"][0]["url"]

"""A user's server whose grids a JupyterHub gallery service keeps redirects its `blocks/` URLs
to the same URL on the service, and only to normalised paths inside the service's blocks/."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

pytestmark = pytest.mark.shared_server

SERVICE = "http://127.0.0.1:10101/services/blocks/"


@pytest.fixture
def blocks_config() -> dict[str, Any]:
    return {"service_url": SERVICE}


Fetch = Callable[..., Awaitable[HTTPResponse]]


@pytest.fixture
def fetch_raw(
    http_server: Any, jp_http_port: int, jp_base_url: str, jp_serverapp: Any
) -> Iterator[Fetch]:
    """Requests for paths exactly as written (jp_fetch would quote them once more)."""
    client = AsyncHTTPClient(force_instance=True)
    token = jp_serverapp.identity_provider.token

    async def fetch(path: str, method: str = "GET") -> HTTPResponse:
        return await client.fetch(
            f"http://127.0.0.1:{jp_http_port}{jp_base_url}{path}",
            method=method,
            body="{}" if method == "POST" else None,
            headers={"Authorization": f"token {token}"},
            raise_error=False,
            follow_redirects=False,
        )

    yield fetch
    client.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "path,location",
    [
        ("blocks/Xk9aQe", "/services/blocks/blocks/Xk9aQe"),
        ("blocks/secret/Xk9aQeAbCdEf", "/services/blocks/blocks/secret/Xk9aQeAbCdEf"),
        ("blocks/api/grids?q=sun&limit=3", "/services/blocks/blocks/api/grids?q=sun&limit=3"),
        ("blocks/", "/services/blocks/blocks/"),
        ("blocks/a%20b%3Fc", "/services/blocks/blocks/a%20b%3Fc"),
    ],
)
async def test_blocks_urls_redirect_to_the_same_url_on_the_service(
    fetch_raw: Fetch, path: str, location: str
) -> None:
    moved = await fetch_raw(path)
    assert moved.code == 307
    assert moved.headers["Location"] == location


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "path",
    [
        "blocks/..%2f..%2f..%2fhub%2fapi%2fusers",
        "blocks/api/%2e%2e/%2e%2e/hub/api/users",
        "blocks/secret/..",
        "blocks/.%2fx",
        "blocks/..%5c..%5chub",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_paths_that_would_resolve_outside_the_service_are_not_redirected(
    fetch_raw: Fetch, path: str, method: str
) -> None:
    answer = await fetch_raw(path, method)
    assert answer.code == 404
    assert "Location" not in answer.headers

"""Every route goes through jupyter_server's authentication; browser writes need the XSRF token."""

from __future__ import annotations

import json
import re
from http.cookies import SimpleCookie
from typing import Any

import pytest

from tests.utils import make_payload

pytestmark = pytest.mark.shared_server

NO_AUTH = {"Authorization": ""}

JSON_ROUTES = [
    ("GET", ("blocks", "api", "me")),
    ("GET", ("blocks", "api", "grids")),
    ("POST", ("blocks", "api", "grids")),
    ("GET", ("blocks", "api", "grids", "AAAAAA")),
    ("DELETE", ("blocks", "api", "grids", "AAAAAA")),
    ("GET", ("blocks", "api", "grids", "AAAAAA", "thumbnail.svg")),
    ("POST", ("blocks", "post")),
    ("GET", ("blocks", "get", "AAAAAA")),
    ("GET", ("blocks", "get", "secret", "AAAAAA")),
    ("GET", ("blocks", "random")),
]
PAGE_ROUTES = [("blocks", ""), ("blocks", "AAAAAA"), ("blocks", "secret", "AAAAAA")]


@pytest.mark.parametrize(("method", "parts"), JSON_ROUTES)
async def test_json_routes_refuse_unauthenticated_requests(
    jp_fetch: Any, method: str, parts: tuple[str, ...]
) -> None:
    body = json.dumps(make_payload()) if method == "POST" else None
    response = await jp_fetch(
        *parts, method=method, body=body, headers=NO_AUTH, raise_error=False, follow_redirects=False
    )
    assert response.code == 403
    assert "message" in json.loads(response.body)


async def test_nothing_is_stored_from_an_unauthenticated_post(jp_fetch: Any) -> None:
    await jp_fetch(
        "blocks",
        "post",
        method="POST",
        body=json.dumps(make_payload()),
        headers=NO_AUTH,
        raise_error=False,
    )
    listing = json.loads((await jp_fetch("blocks", "api", "grids")).body)
    assert listing["items"] == []


@pytest.mark.parametrize("parts", PAGE_ROUTES)
async def test_pages_send_unauthenticated_browsers_to_login(
    jp_fetch: Any, parts: tuple[str, ...]
) -> None:
    response = await jp_fetch(*parts, headers=NO_AUTH, raise_error=False, follow_redirects=False)
    assert response.code == 302
    assert "/login?next=" in response.headers["Location"]


async def test_token_in_the_query_authenticates_scripts(jp_fetch: Any, jp_serverapp: Any) -> None:
    token = jp_serverapp.identity_provider.token
    response = await jp_fetch(
        "blocks",
        "post",
        method="POST",
        body=json.dumps(make_payload()),
        headers=NO_AUTH,
        params={"token": token},
    )
    assert response.code == 200


def cookies_of(response: Any) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


async def test_cookie_authenticated_writes_need_the_xsrf_token(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    # Log in as a browser does: the login form, then the token.
    login = await jp_fetch("login", headers=NO_AUTH)
    cookies = cookies_of(login)
    xsrf = cookies["_xsrf"]
    token = jp_serverapp.identity_provider.token
    logged_in = await jp_fetch(
        "login",
        method="POST",
        headers={**NO_AUTH, "Cookie": f"_xsrf={xsrf}"},
        body=f"_xsrf={xsrf}&password={token}",
        follow_redirects=False,
        raise_error=False,
    )
    assert logged_in.code == 302
    cookies.update(cookies_of(logged_in))
    cookie_header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    browser = {**NO_AUTH, "Cookie": cookie_header}
    assert (await jp_fetch("blocks", "api", "me", headers=browser)).code == 200

    body = json.dumps(make_payload())
    for parts in (("blocks", "api", "grids"), ("blocks", "post")):
        refused = await jp_fetch(
            *parts, method="POST", body=body, headers=browser, raise_error=False
        )
        assert refused.code == 403
        assert re.search("xsrf", json.loads(refused.body)["message"], re.IGNORECASE)
    created = await jp_fetch(
        "blocks", "api", "grids", method="POST", body=body, headers={**browser, "X-XSRFToken": xsrf}
    )
    assert created.code == 201
    grid_id = json.loads(created.body)["id"]
    refused = await jp_fetch(
        "blocks", "api", "grids", grid_id, method="DELETE", headers=browser, raise_error=False
    )
    assert refused.code == 403
    deleted = await jp_fetch(
        "blocks", "api", "grids", grid_id, method="DELETE", headers={**browser, "X-XSRFToken": xsrf}
    )
    assert deleted.code == 204


def test_every_route_is_authenticated(jp_serverapp: Any) -> None:
    """The check jupyter_server runs over its handlers (it warns with JupyterServerAuthWarning,
    an error here), applied to ours: every implemented method has @web.authenticated."""
    from jupyter_blocks.handlers import routes

    missing = [
        line
        for route in routes()
        for line in jp_serverapp.web_app._check_handler_auth(route[0], route[1])
    ]
    assert missing == []

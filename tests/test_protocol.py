"""The ipythonblocks.org protocol: post, get, get/secret, random, as the stock client uses it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.utils import AUTHOR, make_payload

pytestmark = pytest.mark.shared_server


async def post_raw(jp_fetch: Any, body: str | bytes) -> Any:
    # The ipythonblocks client sends no Content-Type header.
    return await jp_fetch("blocks", "post", method="POST", body=body, raise_error=False)


async def test_post_answers_json_url_that_opens_the_grid_page(
    jp_fetch: Any, jp_base_url: str
) -> None:
    response = await post_raw(jp_fetch, json.dumps(make_payload()))
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    url = json.loads(response.body)["url"]
    parsed = urlparse(url)
    assert parsed.scheme == "http" and parsed.netloc.startswith("127.0.0.1:")
    assert parsed.path.startswith(f"{jp_base_url}blocks/")
    grid_id = parsed.path.rsplit("/", 1)[1]
    assert len(grid_id) >= 6
    page = await jp_fetch("blocks", grid_id)
    assert page.code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert AUTHOR in html
    assert "background-color: rgb(40, 0, 95)" in html  # block [1][0] of make_payload


async def test_post_rejects_a_set_instead_of_an_object(jp_fetch: Any) -> None:
    response = await post_raw(jp_fetch, '{"asdf"}')
    assert response.code == 400
    assert "not valid JSON" in json.loads(response.body)["message"]


async def test_post_rejects_a_payload_that_fails_the_schema(jp_fetch: Any) -> None:
    response = await post_raw(jp_fetch, '{"asdf": 5}')
    assert response.code == 400
    errors = json.loads(response.body)["errors"]
    assert any("asdf" in error["message"] for error in errors)


async def test_get_returns_the_stored_grid_data(jp_fetch: Any) -> None:
    payload = make_payload(width=4, height=3)
    url = json.loads((await post_raw(jp_fetch, json.dumps(payload))).body)["url"]
    grid_id = url.rsplit("/", 1)[1]
    response = await jp_fetch("blocks", "get", grid_id)
    assert json.loads(response.body) == payload["grid_data"]


async def test_secret_grid_is_served_only_at_its_secret_id(jp_fetch: Any) -> None:
    payload = make_payload(secret=True)
    url = json.loads((await post_raw(jp_fetch, json.dumps(payload))).body)["url"]
    assert "/blocks/secret/" in url
    secret_id = url.rsplit("/", 1)[1]
    response = await jp_fetch("blocks", "get", "secret", secret_id)
    assert json.loads(response.body) == payload["grid_data"]
    assert (await jp_fetch("blocks", "get", secret_id, raise_error=False)).code == 404
    page = await jp_fetch("blocks", "secret", secret_id)
    assert page.code == 200


async def test_random_is_404_json_on_an_empty_database(jp_fetch: Any) -> None:
    response = await jp_fetch("blocks", "random", raise_error=False, follow_redirects=False)
    assert response.code == 404
    assert json.loads(response.body)["message"] == "No public grids have been posted yet"


async def test_random_redirects_to_a_public_grid_page(jp_fetch: Any, jp_base_url: str) -> None:
    public = set()
    for _ in range(3):
        url = json.loads((await post_raw(jp_fetch, json.dumps(make_payload()))).body)["url"]
        public.add(urlparse(url).path)
    await post_raw(jp_fetch, json.dumps(make_payload(secret=True)))
    seen = set()
    for _ in range(12):
        response = await jp_fetch("blocks", "random", raise_error=False, follow_redirects=False)
        assert response.code == 303
        seen.add(response.headers["Location"])
    assert seen <= public
    assert len(seen) >= 2

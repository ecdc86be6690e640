"""The JSON API under blocks/api/: list, create, get, delete, thumbnails, me."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.utils import AUTHOR, drawn_thumbnail, make_payload

pytestmark = pytest.mark.shared_server


async def get_json(jp_fetch: Any, *parts: str, **kwargs: Any) -> Any:
    return json.loads((await jp_fetch(*parts, **kwargs)).body)


async def test_me_is_the_server_owner_on_a_plain_server(jp_fetch: Any) -> None:
    assert await get_json(jp_fetch, "blocks", "api", "me") == {"author": AUTHOR, "moderator": False}


async def test_create_answers_201_with_the_full_record(jp_fetch: Any, jp_base_url: str) -> None:
    payload = make_payload(width=2, height=2, title="Checks", code_cells=["a = 1", "b = 2"])
    response = await jp_fetch("blocks", "api", "grids", method="POST", body=json.dumps(payload))
    assert response.code == 201
    grid = json.loads(response.body)
    assert response.headers["Location"] == f"{jp_base_url}blocks/api/grids/{grid['id']}"
    created = datetime.fromisoformat(grid.pop("created"))
    assert abs(created - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert grid == {
        "id": grid["id"],
        "secret": False,
        "url": grid["url"],
        "thumbnail_url": f"{jp_base_url}blocks/api/grids/{grid['id']}/thumbnail.svg",
        "author": AUTHOR,
        "title": "Checks",
        "ipb_class": "BlockGrid",
        "width": 2,
        "height": 2,
        "owned": True,
        "can_delete": True,
        "grid_data": payload["grid_data"],
        "code_cells": ["a = 1", "b = 2"],
        "ipb_version": "1.9.1",
        "python_version": [3, 11, 7, "final", 0],
        "parent": None,
        "remixes": [],
    }
    assert grid["url"].endswith(f"{jp_base_url}blocks/{grid['id']}")
    assert await get_json(jp_fetch, "blocks", "api", "grids", grid["id"]) == {
        **grid,
        "created": created.isoformat(),
    }


async def test_list_is_newest_first_public_only_and_pages_by_cursor(
    jp_fetch: Any, post_grid: Any
) -> None:
    public = [(await post_grid(title=f"grid {n}"))["id"] for n in range(7)]
    await post_grid(secret=True, title="hidden")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await get_json(jp_fetch, "blocks", "api", "grids", params=params)
        assert len(page["items"]) <= 3
        assert all("grid_data" not in item for item in page["items"])
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == public[::-1]
    assert pages == 3


async def test_list_page_size_defaults_to_the_configured_one(
    jp_fetch: Any, post_grid: Any, blocks_app: Any
) -> None:
    blocks_app.page_size = 2
    for _ in range(3):
        await post_grid()
    page = await get_json(jp_fetch, "blocks", "api", "grids")
    assert len(page["items"]) == 2 and page["next"]


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        (
            {"cursor": "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"},
            "cursor",
        ),
    ],
)
async def test_list_rejects_bad_query_parameters(
    jp_fetch: Any, params: dict[str, str], path: str
) -> None:
    response = await jp_fetch("blocks", "api", "grids", params=params, raise_error=False)
    assert response.code == 400
    assert json.loads(response.body)["errors"][0]["path"] == path


async def test_unknown_ids_are_404_everywhere(jp_fetch: Any, post_grid: Any) -> None:
    grid = await post_grid()
    for parts in [
        ("blocks", "api", "grids", "AAAAAAAA"),
        ("blocks", "api", "grids", "AAAAAAAA", "thumbnail.svg"),
        ("blocks", "get", "AAAAAAAA"),
        ("blocks", "get", "secret", grid["id"]),
        ("blocks", "get", "9" * 64),
    ]:
        response = await jp_fetch(*parts, raise_error=False)
        assert response.code == 404, parts
        assert "No grid with id" in json.loads(response.body)["message"]


async def test_thumbnail_is_svg_with_an_etag_and_answers_304(jp_fetch: Any, post_grid: Any) -> None:
    grid = await post_grid(width=4, height=3)
    response = await jp_fetch("blocks", "api", "grids", grid["id"], "thumbnail.svg")
    assert response.headers["Content-Type"] == "image/svg+xml"
    size, pixels, _ = drawn_thumbnail(response.body.decode())
    blocks = make_payload(width=4, height=3)["grid_data"]["blocks"]
    assert size == (4, 3)
    assert pixels == bytes(value for row in blocks for block in row for value in block[:3])
    etag = response.headers["ETag"]
    cached = await jp_fetch(
        "blocks",
        "api",
        "grids",
        grid["id"],
        "thumbnail.svg",
        headers={"If-None-Match": etag},
        raise_error=False,
    )
    assert cached.code == 304


@pytest.mark.parametrize("route", [("api", "grids", "{}"), ("get", "{}")], ids=["record", "get"])
async def test_a_big_answer_comes_whole_with_an_etag_and_answers_304(
    jp_fetch: Any, post_grid: Any, route: tuple[str, ...]
) -> None:
    """Answers over a megabyte are hashed and sent off the event loop's time: the same bytes.
    (A record's blocks and code, each over a megabyte here, are sent as stored.)"""
    code = ["x = 1\n" * 15_000] * 15
    grid = await post_grid(width=300, height=300, code_cells=code)
    parts = [part.format(grid["id"]) for part in route]
    response = await jp_fetch("blocks", *parts)
    assert len(response.body) > 1_200_000  # more than one slice
    assert int(response.headers["Content-Length"]) == len(response.body)
    answer = json.loads(response.body)
    grid_data = answer if route[0] == "get" else answer["grid_data"]
    assert grid_data == make_payload(width=300, height=300)["grid_data"]
    if route[0] != "get":
        assert answer == grid and answer["code_cells"] == code
    etag = response.headers["Etag"]
    again = await jp_fetch("blocks", *parts, headers={"If-None-Match": etag}, raise_error=False)
    assert again.code == 304 and not again.body


async def test_thumbnail_of_a_large_grid_stays_small(jp_fetch: Any, post_grid: Any) -> None:
    grid = await post_grid(width=400, height=300)
    response = await jp_fetch("blocks", "api", "grids", grid["id"], "thumbnail.svg")
    size, _, shown = drawn_thumbnail(response.body.decode())
    assert size == (48, 48) and shown == (160, 160)
    assert len(response.body) < 16_000


async def test_owner_deletes_their_grid(jp_fetch: Any, post_grid: Any) -> None:
    grid = await post_grid()
    response = await jp_fetch("blocks", "api", "grids", grid["id"], method="DELETE")
    assert response.code == 204
    gone = await jp_fetch("blocks", "api", "grids", grid["id"], raise_error=False)
    assert gone.code == 404
    again = await jp_fetch("blocks", "api", "grids", grid["id"], method="DELETE", raise_error=False)
    assert again.code == 404


@pytest.mark.parametrize("secret", [False, True], ids=["public", "secret"])
async def test_record_without_blocks_is_the_record_with_only_the_grids_shape(
    jp_fetch: Any, post_grid: Any, secret: bool
) -> None:
    grid_data = {**make_payload(4, 3)["grid_data"], "lines_on": False}
    grid = await post_grid(grid_data=grid_data, code_cells=["a = 1"], secret=secret)
    shape = {"lines_on": False, "width": 4, "height": 3}

    record = await get_json(
        jp_fetch, "blocks", "api", "grids", grid["id"], params={"blocks": "false"}
    )
    assert record == {**grid, "grid_data": shape}
    full = await get_json(jp_fetch, "blocks", "api", "grids", grid["id"], params={"blocks": "true"})
    assert full == grid


async def test_rename_without_blocks_answers_the_renamed_record_without_blocks(
    jp_fetch: Any, post_grid: Any
) -> None:
    grid = await post_grid(title="Before")
    response = await jp_fetch(
        "blocks",
        "api",
        "grids",
        grid["id"],
        method="PATCH",
        body=json.dumps({"title": "After"}),
        params={"blocks": "false"},
    )
    renamed = json.loads(response.body)
    assert renamed == {
        **grid,
        "title": "After",
        "grid_data": {"lines_on": True, "width": 3, "height": 2},
    }


@pytest.mark.parametrize("value", ["", "no", "False", "0", "1"])
@pytest.mark.parametrize("method", ["GET", "PATCH"])
async def test_blocks_argument_other_than_true_or_false_is_refused(
    jp_fetch: Any, post_grid: Any, value: str, method: str
) -> None:
    grid = await post_grid(title="Kept")
    response = await jp_fetch(
        "blocks",
        "api",
        "grids",
        grid["id"],
        method=method,
        params={"blocks": value},
        body=json.dumps({"title": "Changed"}) if method == "PATCH" else None,
        raise_error=False,
    )
    assert response.code == 400
    assert json.loads(response.body)["errors"] == [
        {"path": "blocks", "message": "must be true or false"}
    ]
    assert (await get_json(jp_fetch, "blocks", "api", "grids", grid["id"]))["title"] == "Kept"


async def test_secret_grid_is_reachable_by_its_secret_id_only(
    jp_fetch: Any, post_grid: Any
) -> None:
    grid = await post_grid(secret=True)
    assert grid["secret"] is True and "/blocks/secret/" in grid["url"]
    record = await get_json(jp_fetch, "blocks", "api", "grids", grid["id"])
    assert record["grid_data"] == grid["grid_data"]
    listing = await get_json(jp_fetch, "blocks", "api", "grids")
    assert listing["items"] == []


async def test_author_filter(jp_fetch: Any, post_grid: Any) -> None:
    await post_grid()
    mine = await get_json(jp_fetch, "blocks", "api", "grids", params={"author": AUTHOR})
    assert len(mine["items"]) == 1
    nobody = await get_json(jp_fetch, "blocks", "api", "grids", params={"author": "nobody"})
    assert nobody == {"items": [], "next": None}


@pytest.mark.named_users
class TestSeveralUsers:
    """A server whose identity provider names its users, as JupyterHub's does."""

    @staticmethod
    def as_user(name: str) -> dict[str, str]:
        return {"Authorization": f"token {name}-token"}

    async def test_the_author_is_the_logged_in_user(self, jp_fetch: Any) -> None:
        for name in ("alice", "bob"):
            me = await get_json(jp_fetch, "blocks", "api", "me", headers=self.as_user(name))
            assert me == {"author": name, "moderator": False}
            body = json.dumps(make_payload(title=f"{name}'s"))
            response = await jp_fetch(
                "blocks", "api", "grids", method="POST", body=body, headers=self.as_user(name)
            )
            assert json.loads(response.body)["author"] == name
        bobs = await get_json(
            jp_fetch,
            "blocks",
            "api",
            "grids",
            params={"author": "bob"},
            headers=self.as_user("alice"),
        )
        assert [item["title"] for item in bobs["items"]] == ["bob's"]
        assert bobs["items"][0]["owned"] is False
        assert bobs["items"][0]["can_delete"] is False

    async def test_nobody_deletes_another_users_grid(self, jp_fetch: Any) -> None:
        body = json.dumps(make_payload())
        created = await jp_fetch(
            "blocks", "api", "grids", method="POST", body=body, headers=self.as_user("alice")
        )
        grid_id = json.loads(created.body)["id"]
        refused = await jp_fetch(
            "blocks",
            "api",
            "grids",
            grid_id,
            method="DELETE",
            headers=self.as_user("bob"),
            raise_error=False,
        )
        assert refused.code == 403
        assert json.loads(refused.body) == {
            "message": "Only alice or a moderator can delete this grid",
            "errors": [],
        }
        still = await jp_fetch("blocks", "api", "grids", grid_id, headers=self.as_user("bob"))
        assert json.loads(still.body)["owned"] is False
        deleted = await jp_fetch(
            "blocks", "api", "grids", grid_id, method="DELETE", headers=self.as_user("alice")
        )
        assert deleted.code == 204

"""`PATCH blocks/api/grids/<id>` with `{"title": ...}`: the author renames a grid; nobody else
can. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.utils import make_payload

pytestmark = [pytest.mark.named_users, pytest.mark.shared_server]


def as_user(name: str) -> dict[str, str]:
    return {"Authorization": f"token {name}-token"}


async def create(jp_fetch: Any, author: str = "alice", **changes: Any) -> str:
    body = json.dumps(make_payload(**changes))
    response = await jp_fetch(
        "blocks", "api", "grids", method="POST", body=body, headers=as_user(author)
    )
    return str(json.loads(response.body)["id"])


async def patch(jp_fetch: Any, grid_id: str, body: str, author: str = "alice") -> Any:
    return await jp_fetch(
        "blocks",
        "api",
        "grids",
        grid_id,
        method="PATCH",
        body=body,
        headers=as_user(author),
        raise_error=False,
    )


async def stored_title(jp_fetch: Any, grid_id: str) -> str | None:
    response = await jp_fetch("blocks", "api", "grids", grid_id, headers=as_user("bob"))
    title: str | None = json.loads(response.body)["title"]
    return title


@pytest.mark.parametrize(
    ("title", "stored"),
    [
        ("A brighter sunset", "A brighter sunset"),
        ("  padded  ", "padded"),
        ("<b>bold</b> & co", "<b>bold</b> & co"),
        ("x" * 200, "x" * 200),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
async def test_the_author_renames_a_grid(
    jp_fetch: Any, title: str | None, stored: str | None
) -> None:
    grid_id = await create(jp_fetch, title="Sunset")
    response = await patch(jp_fetch, grid_id, json.dumps({"title": title}))
    assert response.code == 200
    record = json.loads(response.body)
    assert (record["id"], record["title"], record["author"]) == (grid_id, stored, "alice")
    assert record["grid_data"] == make_payload()["grid_data"]
    assert await stored_title(jp_fetch, grid_id) == stored


CHANGE = "Invalid grid change"


@pytest.mark.parametrize(
    ("body", "message", "errors"),
    [
        ('{"title": "x"', "Request body is not valid JSON", []),
        ("[]", CHANGE, [("", 'must be {"title": ...}')]),
        ('{"name": "x"}', CHANGE, [("", 'must be {"title": ...}')]),
        ('{"title": "x", "author": "bob"}', CHANGE, [("", 'must be {"title": ...}')]),
        ('{"title": 5}', CHANGE, [("title", "must be text or null")]),
        (json.dumps({"title": "x" * 201}), CHANGE, [("title", "must be at most 200 characters")]),
        ('{"title": "a\\u0000b"}', CHANGE, [("title", "must not contain NUL characters")]),
        (
            '{"title": "\\ud800"}',
            CHANGE,
            [("title", "must be valid Unicode text (it holds a lone surrogate)")],
        ),
    ],
)
async def test_rename_rejects_a_bad_body_and_changes_nothing(
    jp_fetch: Any, body: str, message: str, errors: list[tuple[str, str]]
) -> None:
    grid_id = await create(jp_fetch, title="Kept")
    response = await patch(jp_fetch, grid_id, body)
    assert response.code == 400
    error = json.loads(response.body)
    assert error["message"].startswith(message)
    assert [(entry["path"], entry["message"]) for entry in error["errors"]] == errors
    assert await stored_title(jp_fetch, grid_id) == "Kept"


async def test_nobody_but_the_author_renames_a_grid(jp_fetch: Any) -> None:
    grid_id = await create(jp_fetch, title="Alice's")
    response = await patch(jp_fetch, grid_id, '{"title": "Bob was here"}', author="bob")
    assert response.code == 403
    assert json.loads(response.body) == {"message": "Only alice can rename this grid", "errors": []}
    assert await stored_title(jp_fetch, grid_id) == "Alice's"


async def test_renaming_an_unknown_grid_is_a_404(jp_fetch: Any) -> None:
    response = await patch(jp_fetch, "AAAAAA", '{"title": "x"}')
    assert response.code == 404


async def test_a_secret_grid_is_renamed_by_its_secret_id(jp_fetch: Any) -> None:
    grid_id = await create(jp_fetch, secret=True)
    response = await patch(jp_fetch, grid_id, '{"title": "Hidden"}')
    assert response.code == 200
    assert json.loads(response.body)["secret"] is True
    assert await stored_title(jp_fetch, grid_id) == "Hidden"

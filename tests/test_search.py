"""`GET blocks/api/grids?q=`: case-insensitive search on title or author, with the same paging;
`GET blocks/api/authors?q=`: author names for suggestions. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from tests.utils import make_payload

GRIDS = [  # (author, title, secret), posted in this order
    ("alice", "Sunset over the SEA", False),
    ("bob", "sea turtle", False),
    ("alice", "100% red", False),
    ("alice", "under_score", False),
    ("bob", "Secret sea", True),
    ("alice", None, False),
]


pytestmark = [pytest.mark.named_users, pytest.mark.shared_server]


def as_user(name: str) -> dict[str, str]:
    return {"Authorization": f"token {name}-token"}


async def post_grids(jp_fetch: Any) -> None:
    for author, title, secret in GRIDS:
        body = json.dumps(make_payload(title=title, secret=secret))
        await jp_fetch("blocks", "api", "grids", method="POST", body=body, headers=as_user(author))


async def titles(jp_fetch: Any, **params: str) -> list[str | None]:
    response = await jp_fetch("blocks", "api", "grids", params=params, headers=as_user("alice"))
    return [item["title"] for item in json.loads(response.body)["items"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "sea"}, ["sea turtle", "Sunset over the SEA"]),
        ({"q": "SEA"}, ["sea turtle", "Sunset over the SEA"]),
        ({"q": "  sea "}, ["sea turtle", "Sunset over the SEA"]),
        ({"q": "BO"}, ["sea turtle"]),
        ({"q": "alic"}, [None, "under_score", "100% red", "Sunset over the SEA"]),
        ({"q": "%"}, ["100% red"]),
        ({"q": "_"}, ["under_score"]),
        ({"q": "secret"}, []),
        ({"q": "sea", "author": "bob"}, ["sea turtle"]),
        ({"q": "sea", "author": "alice"}, ["Sunset over the SEA"]),
        ({"q": ""}, [None, "under_score", "100% red", "sea turtle", "Sunset over the SEA"]),
    ],
)
async def test_search_matches_title_or_author_case_insensitively(
    jp_fetch: Any, params: dict[str, str], expected: list[str | None]
) -> None:
    await post_grids(jp_fetch)
    assert await titles(jp_fetch, **params) == expected


async def test_search_pages_with_the_same_cursor(jp_fetch: Any) -> None:
    await post_grids(jp_fetch)
    seen, cursor = [], None
    for _ in range(5):
        params = {"q": "r", "limit": "1", **({"cursor": cursor} if cursor else {})}
        response = await jp_fetch("blocks", "api", "grids", params=params, headers=as_user("alice"))
        page = json.loads(response.body)
        seen += [item["title"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ["under_score", "100% red", "sea turtle", "Sunset over the SEA"]


@pytest.mark.parametrize("route", [("blocks", "api", "grids"), ("blocks", "api", "authors")])
async def test_search_rejects_an_overlong_query(jp_fetch: Any, route: tuple[str, ...]) -> None:
    response = await jp_fetch(
        *route, params={"q": "x" * 201}, headers=as_user("alice"), raise_error=False
    )
    assert response.code == 400
    assert json.loads(response.body) == {
        "message": "Invalid query",
        "errors": [{"path": "q", "message": "must be at most 200 characters"}],
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["alice", "bob"]),
        ({"q": "a"}, ["alice"]),
        ({"q": "B"}, ["bob"]),
        ({"q": "li"}, []),  # a prefix, not a substring
        ({"q": "%"}, []),
        ({"limit": "1"}, ["alice"]),
    ],
)
async def test_authors_suggests_names_by_prefix(
    jp_fetch: Any, params: dict[str, str], expected: list[str]
) -> None:
    await post_grids(jp_fetch)
    response = await jp_fetch("blocks", "api", "authors", params=params, headers=as_user("bob"))
    assert json.loads(response.body) == {"items": expected}


async def test_authors_of_only_secret_grids_are_not_suggested(jp_fetch: Any) -> None:
    body = json.dumps(make_payload(secret=True))
    await jp_fetch("blocks", "api", "grids", method="POST", body=body, headers=as_user("bob"))
    response = await jp_fetch("blocks", "api", "authors", headers=as_user("alice"))
    assert json.loads(response.body) == {"items": []}


async def test_search_is_served_by_indexes(jp_fetch: Any, db_url: str) -> None:
    """Title and author searches have indexes: trigram GIN ones on PostgreSQL (pg_trgm is a
    trusted extension, which the test database's owner may create), lower(...) ones on both."""
    await jp_fetch("blocks", "api", "me", headers=as_user("alice"))  # the schema is migrated
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                query = "SELECT indexname FROM pg_indexes WHERE tablename = 'grids'"
            else:
                query = "SELECT name FROM sqlite_master WHERE type = 'index'"
            indexes = set(connection.execute(sa.text(query)).scalars())
        assert {"ix_grids_lower_title", "ix_grids_lower_author"} <= indexes
        if engine.dialect.name == "postgresql":
            assert {"ix_grids_title_trgm", "ix_grids_author_trgm"} <= indexes
            with engine.connect() as connection:
                connection.execute(sa.text("SET enable_seqscan = off"))
                plan = connection.execute(
                    sa.text("EXPLAIN SELECT id FROM grids WHERE lower(title) LIKE :pattern"),
                    {"pattern": "%sea%"},
                ).scalars()
                assert "ix_grids_title_trgm" in "\n".join(plan)
    finally:
        engine.dispose()

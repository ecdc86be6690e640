"""Remix lineage: a grid posted with `"parent": <id>` records the grid it was remixed from;
records carry `parent` and `remixes`, pages link both ways. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jupyter_blocks import db, service
from jupyter_blocks.models import Grid
from jupyter_blocks.validation import Limits, PayloadValidator
from tests.utils import make_payload

pytestmark = pytest.mark.shared_server


async def post_to(jp_fetch: Any, route: tuple[str, ...], **changes: Any) -> Any:
    return await jp_fetch(
        *route, method="POST", body=json.dumps(make_payload(**changes)), raise_error=False
    )


async def record(jp_fetch: Any, grid_id: str) -> dict[str, Any]:
    response = await jp_fetch("blocks", "api", "grids", grid_id)
    result: dict[str, Any] = json.loads(response.body)
    return result


def id_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


@pytest.mark.parametrize("route", [("blocks", "api", "grids"), ("blocks", "post")])
async def test_a_remix_records_its_parent_and_the_parent_lists_it(
    jp_fetch: Any, post_grid: Any, route: tuple[str, ...]
) -> None:
    parent = await post_grid(title="Original")
    response = await post_to(jp_fetch, route, title="Remix", parent=parent["id"])
    assert response.code in (200, 201)
    child_id = id_of(json.loads(response.body)["url"])

    child = await record(jp_fetch, child_id)
    assert (child["parent"], child["title"], child["remixes"]) == (parent["id"], "Remix", [])
    assert (await record(jp_fetch, parent["id"]))["remixes"] == [
        {"id": child_id, "title": "Remix", "author": child["author"], "url": child["url"]}
    ]
    listed = json.loads((await jp_fetch("blocks", "api", "grids")).body)["items"]
    assert [(item["id"], item["parent"]) for item in listed] == [
        (child_id, parent["id"]),
        (parent["id"], None),
    ]


async def test_remixes_are_newest_first_and_only_public_ones(jp_fetch: Any, post_grid: Any) -> None:
    parent = await post_grid()
    first = await post_grid(title="first", parent=parent["id"])
    await post_grid(title="hidden", parent=parent["id"], secret=True)
    second = await post_grid(title="second", parent=parent["id"])
    remixes = (await record(jp_fetch, parent["id"]))["remixes"]
    assert [remix["id"] for remix in remixes] == [second["id"], first["id"]]


async def test_a_secret_parent_is_not_named(jp_fetch: Any, post_grid: Any) -> None:
    secret = await post_grid(secret=True)
    child = await post_grid(parent=secret["id"])
    assert child["parent"] is None
    assert (await record(jp_fetch, child["id"]))["parent"] is None
    assert secret["id"] not in (await jp_fetch("blocks", child["id"])).body.decode()


@pytest.mark.parametrize("route", [("blocks", "api", "grids"), ("blocks", "post")])
@pytest.mark.parametrize("parent", ["AAAAAA", "nosuchgrid", "x" * 65, 7])
async def test_an_unknown_or_invalid_parent_is_a_400_and_nothing_is_stored(
    jp_fetch: Any, route: tuple[str, ...], parent: Any
) -> None:
    response = await post_to(jp_fetch, route, parent=parent)
    assert response.code == 400
    body = json.loads(response.body)
    assert [error["path"] for error in body["errors"]] == ["parent"]
    listed = json.loads((await jp_fetch("blocks", "api", "grids")).body)
    assert listed["items"] == []


async def test_deleting_a_parent_leaves_its_remixes_without_one(
    jp_fetch: Any, post_grid: Any
) -> None:
    parent = await post_grid()
    child = await post_grid(parent=parent["id"])
    await jp_fetch("blocks", "api", "grids", parent["id"], method="DELETE")
    assert (await record(jp_fetch, child["id"]))["parent"] is None


async def test_pages_link_a_remix_and_its_parent_both_ways(jp_fetch: Any, post_grid: Any) -> None:
    parent = await post_grid(title="Original <b>")
    child = await post_grid(title="Remix <i>", parent=parent["id"])
    child_page = (await jp_fetch("blocks", child["id"])).body.decode()
    parent_page = (await jp_fetch("blocks", parent["id"])).body.decode()
    assert "Remixed from" in child_page
    # pages link grids by path, which the browser resolves on the host it opened
    assert f'href="{urlsplit(parent["url"]).path}"' in child_page
    assert "Original &lt;b&gt;" in child_page
    assert "Remixes" in parent_page
    assert f'href="{urlsplit(child["url"]).path}"' in parent_page
    assert "Remix &lt;i&gt;" in parent_page


def test_remixes_are_read_through_their_index_whatever_sqlites_statistics_say(
    db_url: str,
) -> None:
    # SQLite's statistics (ANALYZE, `PRAGMA optimize`) took the NULL parent of every grid that
    # is no remix for one value most rows share: taken before remixes were posted, they made its
    # planner scan the whole table for a page's remixes (13 ms at 200,000 grids, and growing).
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's query planner")
    engine = db.create_engine(db_url)
    db.upgrade(engine)
    new = PayloadValidator(Limits()).validate(json.dumps(make_payload()).encode())
    with Session(engine) as session, session.begin():
        first = service.create_grid(session, new, "ada").id
        columns = ", ".join(c.name for c in service.GRIDS.c if c.name != "id")
        session.execute(
            sa.text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 999) "
                f"INSERT INTO grids ({columns}) SELECT {columns} FROM grids, n WHERE id = :first"
            ),
            {"first": first},
        )
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    with Session(engine) as session, session.begin():
        parent = session.get(Grid, first)
        remix = service.create_grid(session, new, "bob", parent).id
    with engine.connect() as connection:
        query = service._REMIXES.compile(engine)
        plan = connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {query}",
            tuple(query.construct_params({"parent_id": first}).values()),
        ).all()
        assert [step[-1] for step in plan] == [
            "SEARCH grids USING INDEX ix_grids_parent_id_secret (parent_id=? AND secret=?)"
        ]
    with Session(engine) as session:
        assert [row.id for row in service.remixes(session, first)] == [remix]
    engine.dispose()

"""Every error the JSON API can answer, whatever its source, has one shape:
`{"message": str, "errors": [{"path": str, "message": str}, ...]}`, as JSON, with no traceback
or other server internals in it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.utils import make_payload

pytestmark = pytest.mark.shared_server

NO_AUTH = {"Authorization": ""}

Request = Callable[[Any, Any], Awaitable[Any]]


@pytest.fixture
def blocks_config() -> dict[str, Any]:
    return {"max_body_bytes": 100_000}


def call(*parts: str, method: str = "GET", body: Any = None, **kwargs: Any) -> Request:
    """A request to make on the test server, once its grids are in place."""

    async def request(jp_fetch: Any, grid_id: Any) -> Any:
        path = [grid_id if part == "<id>" else part for part in parts]
        data = json.dumps(body) if isinstance(body, dict) else body
        if method in ("POST", "PUT", "PATCH") and data is None:
            data = ""
        return await jp_fetch(*path, method=method, body=data, raise_error=False, **kwargs)

    return request


async def the_server_shuts_its_worker_threads(jp_fetch: Any, blocks_app: Any) -> Any:
    """A fault inside the server: a big grid is encoded in a worker thread, and the pool of
    those threads is gone (as while the server shuts down)."""
    created = await jp_fetch(
        "blocks", "api", "grids", method="POST", body=json.dumps(make_payload(60, 50))
    )
    blocks_app.cpu_threads.shutdown(wait=True)
    return await jp_fetch(
        "blocks", "api", "grids", json.loads(created.body)["id"], raise_error=False
    )


async def the_database_goes_away(jp_fetch: Any, db_url: str) -> Any:
    """PostgreSQL refuses the server's connections (as in an outage) while it runs."""
    if not db_url.startswith("postgresql"):
        pytest.skip("as root, nothing keeps the server from its SQLite file")
    url = make_url(db_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (url.database,),
        )
    return await jp_fetch("blocks", "api", "grids", raise_error=False)


ERROR_SOURCES = [
    # 400: the request is wrong
    pytest.param(400, call("blocks", "post", method="POST", body="{"), id="400-post-not-json"),
    pytest.param(
        400,
        call("blocks", "api", "grids", method="POST", body=make_payload(extra=1)),
        id="400-payload-schema",
    ),
    pytest.param(
        400,
        call("blocks", "post", method="POST", body=b'{"secret": "\xff"}'),
        id="400-body-not-utf8",
    ),
    pytest.param(400, call("blocks", "api", "grids", params={"limit": "0"}), id="400-limit"),
    pytest.param(400, call("blocks", "api", "grids", params={"cursor": "%%"}), id="400-cursor"),
    pytest.param(
        400, call("blocks", "api", "grids", "<id>", params={"blocks": "no"}), id="400-blocks"
    ),
    # 403: not logged in, or not allowed
    pytest.param(403, call("blocks", "api", "me", headers=NO_AUTH), id="403-no-credentials"),
    pytest.param(
        403,
        call("blocks", "post", method="POST", body=make_payload(), headers=NO_AUTH),
        id="403-post-no-credentials",
    ),
    pytest.param(403, "not-the-author", id="403-delete-not-the-author"),
    # 404: nothing there
    pytest.param(404, call("blocks", "api", "grids", "AAAAAA"), id="404-unknown-grid"),
    pytest.param(404, call("blocks", "get", "secret", "<id>"), id="404-public-id-as-secret"),
    pytest.param(
        404, call("blocks", "api", "grids", "AAAAAA", "thumbnail.svg"), id="404-thumbnail"
    ),
    pytest.param(404, "no-public-grid", id="404-random-without-grids"),
    # 405: a method the route does not have
    pytest.param(405, call("blocks", "api", "me", method="DELETE"), id="405-delete-me"),
    pytest.param(405, call("blocks", "post"), id="405-get-post"),
    pytest.param(405, call("blocks", "api", "grids", method="PUT", body="{}"), id="405-put-grids"),
    # 413: too big
    pytest.param(
        413,
        call("blocks", "api", "grids", method="POST", body=make_payload(200, 100)),
        id="413-body-too-big",
    ),
    # 500: a fault of the server
    pytest.param(500, "fault", id="500-server-fault"),
    # 503: the database is not reachable
    pytest.param(503, "outage", id="503-database-unreachable"),
]


@pytest.mark.parametrize(("status", "source"), ERROR_SOURCES)
async def test_every_error_is_json_with_a_message_and_a_list_of_errors(
    jp_fetch: Any, blocks_app: Any, post_grid: Any, db_url: str, status: int, source: Any
) -> None:
    grid = await post_grid()
    if source == "outage":
        response = await the_database_goes_away(jp_fetch, db_url)
    elif source == "fault":
        response = await the_server_shuts_its_worker_threads(jp_fetch, blocks_app)
    elif source == "not-the-author":
        blocks_app.default_author = "somebody else"
        response = await call("blocks", "api", "grids", "<id>", method="DELETE")(
            jp_fetch, grid["id"]
        )
    elif source == "no-public-grid":
        await jp_fetch("blocks", "api", "grids", grid["id"], method="DELETE")
        response = await call("blocks", "random")(jp_fetch, None)
    else:
        response = await source(jp_fetch, grid["id"])

    assert response.code == status, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.body)
    assert set(body) == {"message", "errors"}
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errors"], list)
    for error in body["errors"]:
        assert set(error) == {"path", "message"}
        assert isinstance(error["path"], str) and isinstance(error["message"], str)
    text = response.body.decode()
    assert "Traceback" not in text and 'File "' not in text
    if status == 500:
        assert body == {"message": "Internal server error", "errors": []}

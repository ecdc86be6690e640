"""Bad payloads get a 400 (413 when too big) with precise error paths, and nothing is stored."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.utils import make_payload, set_at

pytestmark = pytest.mark.shared_server

Change = Callable[[dict[str, Any]], Any]


def set_path(path: str, value: Any) -> Change:
    return lambda payload: set_at(payload, path, value)


def delete_key(path: str) -> Change:
    def change(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = payload
        for part in parents:
            target = target[part]
        del target[last]

    return change


def drop_block(payload: dict[str, Any]) -> None:
    payload["grid_data"]["blocks"][1].pop()


def add_row(payload: dict[str, Any]) -> None:
    payload["grid_data"]["blocks"].append(payload["grid_data"]["blocks"][0])


INVALID = [
    # (test id, change, expected error path, words in the message)
    ("width-string", set_path("grid_data.width", "3"), "grid_data.width", "integer"),
    ("width-float", set_path("grid_data.width", 3.0), "grid_data.width", "integer"),
    ("width-zero", set_path("grid_data.width", 0), "grid_data.width", "minimum"),
    ("height-bool", set_path("grid_data.height", True), "grid_data.height", "integer"),
    ("lines-on-string", set_path("grid_data.lines_on", "yes"), "grid_data.lines_on", "boolean"),
    ("secret-int", set_path("secret", 1), "secret", "boolean"),
    ("blocks-not-list", set_path("grid_data.blocks", "red"), "grid_data.blocks", "array"),
    ("row-missing-block", drop_block, "grid_data.blocks.1", "expected 3 blocks"),
    ("extra-row", add_row, "grid_data.blocks", "expected 2 rows"),
    ("row-not-list", set_path("grid_data.blocks.0", 7), "grid_data.blocks.0", "list of blocks"),
    ("colour-256", set_path("grid_data.blocks.1.2.0", 256), "grid_data.blocks.1.2", "red"),
    ("colour-negative", set_path("grid_data.blocks.0.1.2", -1), "grid_data.blocks.0.1", "blue"),
    ("colour-float", set_path("grid_data.blocks.0.0.1", 1.5), "grid_data.blocks.0.0", "green"),
    ("colour-bool", set_path("grid_data.blocks.0.0.0", True), "grid_data.blocks.0.0", "red"),
    ("size-zero", set_path("grid_data.blocks.1.1.3", 0), "grid_data.blocks.1.1", "size"),
    ("size-huge", set_path("grid_data.blocks.1.1.3", 10_000), "grid_data.blocks.1.1", "size"),
    ("block-short", set_path("grid_data.blocks.0.0", [1, 2, 3]), "grid_data.blocks.0.0", "list"),
    ("extra-key", set_path("colour", "red"), "", "colour"),
    ("extra-grid-key", set_path("grid_data.depth", 3), "grid_data", "depth"),
    ("missing-grid-data", delete_key("grid_data"), "", "grid_data"),
    ("missing-blocks", delete_key("grid_data.blocks"), "grid_data", "blocks"),
    ("bad-class", set_path("ipb_class", "Turtle"), "ipb_class", "Turtle"),
    ("code-cells-string", set_path("code_cells", "print(1)"), "code_cells", "array"),
    ("code-cell-number", set_path("code_cells", ["ok", 5]), "code_cells.1", "string"),
    ("too-many-code-cells", set_path("code_cells", ["x"] * 201), "code_cells", "too long"),
    ("code-cell-too-long", set_path("code_cells", ["x" * 100_001]), "code_cells.0", "too long"),
    ("bad-origin", set_path("grid_data.origin", "middle"), "grid_data.origin", "middle"),
    ("too-many-cells", set_path("grid_data.width", 250_001), "grid_data.width", "maximum"),
    ("title-not-text", set_path("title", 5), "title", "string"),
    ("title-nul", set_path("title", "a\x00b"), "title", "NUL"),
    ("code-cell-nul", set_path("code_cells", ["ok", "x\x00"]), "code_cells.1", "NUL"),
    ("ipb-version-nul", set_path("ipb_version", "1\x00"), "ipb_version", "NUL"),
    ("version-part-nul", set_path("python_version", [3, "a\x00"]), "python_version.1", "NUL"),
    ("version-part-float", set_path("python_version", [3.11]), "python_version.0", "integer"),
    ("parent-not-an-id", set_path("parent", "../x"), "parent", "grid id"),
    ("parent-too-long", set_path("parent", "a" * 65), "parent", "grid id"),
    ("parent-number", set_path("parent", 12), "parent", "string"),
]


async def grid_count(jp_fetch: Any) -> int:
    listing = json.loads((await jp_fetch("blocks", "api", "grids", params={"limit": 100})).body)
    return len(listing["items"])


@pytest.mark.parametrize("route", [("blocks", "post"), ("blocks", "api", "grids")])
@pytest.mark.parametrize(
    ("change", "path", "words"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
async def test_invalid_payload_is_rejected_with_its_error_path(
    jp_fetch: Any, route: tuple[str, ...], change: Change, path: str, words: str
) -> None:
    payload = copy.deepcopy(make_payload())
    change(payload)
    response = await jp_fetch(*route, method="POST", body=json.dumps(payload), raise_error=False)
    assert response.code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    body = json.loads(response.body)
    assert body["message"] == "Invalid grid payload"
    assert [e for e in body["errors"] if e["path"] == path and words in e["message"]], body
    assert await grid_count(jp_fetch) == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "not valid JSON"),
        (b"[1, 2", "not valid JSON"),
        (b'{"asdf"}', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"secret": NaN}', "not valid JSON: JSON is malformed: invalid character (byte 11)"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b"[1, 2, 3]", "Invalid grid payload"),
        (b'"a string"', "Invalid grid payload"),
    ],
    ids=["empty", "truncated", "set", "latin1", "nan", "deep-nesting", "array", "string"],
)
async def test_unparseable_bodies_are_400(jp_fetch: Any, body: bytes, words: str) -> None:
    response = await jp_fetch("blocks", "post", method="POST", body=body, raise_error=False)
    assert response.code == 400
    assert words in json.loads(response.body)["message"]
    assert await grid_count(jp_fetch) == 0


async def test_a_width_times_height_over_the_cell_limit_is_rejected(jp_fetch: Any) -> None:
    payload = make_payload()
    payload["grid_data"].update(width=501, height=500)  # 250,500 blocks, each side allowed
    response = await jp_fetch(
        "blocks", "post", method="POST", body=json.dumps(payload), raise_error=False
    )
    assert response.code == 400
    error = json.loads(response.body)["errors"][0]
    assert error["path"] == "grid_data" and "250500" in error["message"]


class TestBodyLimit:
    @pytest.fixture
    def blocks_config(self) -> dict[str, Any]:
        return {"max_body_bytes": 4096}

    @pytest.mark.parametrize("path", ["blocks/post", "blocks/api/grids"])
    async def test_a_body_declared_too_large_is_refused_before_it_is_sent(
        self,
        http_server: Any,
        jp_http_port: int,
        jp_base_url: str,
        jp_serverapp: Any,
        path: str,
    ) -> None:
        """A client that waits for "100 Continue" sends only the headers: the 413 comes at once,
        and no "100 Continue", so 50 MB of body are never sent."""
        reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
        token = jp_serverapp.identity_provider.token
        writer.write(
            f"POST {jp_base_url}{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: token {token}\r\nContent-Length: 50000000\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=20)
        writer.close()
        assert status_line.split()[1] == b"413"

    async def test_a_body_over_the_size_limit_is_413(self, jp_fetch: Any) -> None:
        payload = make_payload(width=30, height=20)  # about 12 KB of JSON
        response = await jp_fetch(
            "blocks", "post", method="POST", body=json.dumps(payload), raise_error=False
        )
        assert response.code == 413
        assert "4096 bytes" in json.loads(response.body)["message"]
        assert await grid_count(jp_fetch) == 0


async def test_block_errors_are_capped_but_precise(jp_fetch: Any) -> None:
    payload = make_payload(width=10, height=10)
    for row in payload["grid_data"]["blocks"]:
        for block in row:
            block[0] = 300
    response = await jp_fetch(
        "blocks", "post", method="POST", body=json.dumps(payload), raise_error=False
    )
    errors = json.loads(response.body)["errors"]
    assert len(errors) == 20
    assert errors[0] == {
        "path": "grid_data.blocks.0.0",
        "message": "red must be an integer from 0 to 255, got 300",
    }


async def test_title_is_accepted_by_both_routes(jp_fetch: Any) -> None:
    """The patched kernel client sends a title to `blocks/post` (API contract item 6)."""
    body = json.dumps(make_payload(title="Sunset"))
    protocol = await jp_fetch("blocks", "post", method="POST", body=body)
    assert protocol.code == 200
    api = await jp_fetch("blocks", "api", "grids", method="POST", body=body)
    assert api.code == 201 and json.loads(api.body)["title"] == "Sunset"
    listed = json.loads((await jp_fetch("blocks", "api", "grids")).body)["items"]
    assert [item["title"] for item in listed] == ["Sunset", "Sunset"]


@pytest.mark.parametrize("route", [("blocks", "post"), ("blocks", "api", "grids")])
@pytest.mark.parametrize("field", ["title", "ipb_version", "code_cells.0", "python_version.3"])
async def test_a_lone_surrogate_escape_is_a_400_naming_its_field(
    jp_fetch: Any, route: tuple[str, ...], field: str
) -> None:
    """`"\\ud800"` is valid JSON to Python's json module, but no database can store the text."""
    payload = make_payload(code_cells=["x = 1"])
    set_at(payload, field, "a\ud800")
    body = json.dumps(payload)
    assert "\\ud800" in body
    response = await jp_fetch(*route, method="POST", body=body, raise_error=False)
    assert response.code == 400
    assert json.loads(response.body)["errors"] == [
        {"path": field, "message": "must be valid Unicode text (it holds a lone surrogate)"}
    ]
    assert await grid_count(jp_fetch) == 0


async def test_a_title_with_a_surrogate_pair_escape_is_stored(jp_fetch: Any) -> None:
    body = json.dumps(make_payload(title="sun \U0001f305"))  # escaped as \ud83c\udf05
    response = await jp_fetch("blocks", "api", "grids", method="POST", body=body)
    assert json.loads(response.body)["title"] == "sun \U0001f305"


async def test_title_longer_than_200_characters_is_rejected(jp_fetch: Any) -> None:
    body = json.dumps(make_payload(title="x" * 201))
    response = await jp_fetch("blocks", "api", "grids", method="POST", body=body, raise_error=False)
    assert response.code == 400
    assert json.loads(response.body)["errors"][0]["path"] == "title"


@pytest.mark.parametrize("route", [("blocks", "post"), ("blocks", "api", "grids")])
async def test_a_big_payload_checked_in_a_worker_process_has_the_same_errors(
    jp_fetch: Any, route: tuple[str, ...]
) -> None:
    """Bodies over 64 KiB are validated in a worker process; its errors come back whole."""
    payload = make_payload(width=150, height=150)
    set_at(payload, "grid_data.blocks.149.7.2", 256)
    set_at(payload, "code_cells", ["ok", "x\x00"])
    body = json.dumps(payload)
    assert len(body) > 64 * 1024
    response = await jp_fetch(*route, method="POST", body=body, raise_error=False)
    assert response.code == 400
    assert json.loads(response.body)["errors"] == [
        {
            "path": "grid_data.blocks.149.7",
            "message": "blue must be an integer from 0 to 255, got 256",
        }
    ]
    set_at(payload, "grid_data.blocks.149.7.2", 255)
    response = await jp_fetch(*route, method="POST", body=json.dumps(payload), raise_error=False)
    assert json.loads(response.body)["errors"] == [
        {"path": "code_cells.1", "message": "must not contain NUL characters"}
    ]
    assert await grid_count(jp_fetch) == 0

"""Input that used to get a 500 or a dropped connection gets a clear 4xx JSON answer instead."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import sqlalchemy as sa

from jupyter_blocks.handlers import base
from jupyter_blocks.models import Grid
from tests.utils import make_payload

pytestmark = pytest.mark.shared_server


def stored(blocks_app: Any) -> int:
    with blocks_app.database.engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(Grid)))


async def chunked_post(port: int, path: str, token: str, body: bytes, chunk: int) -> bytes:
    """POST `body` with `Transfer-Encoding: chunked` (no Content-Length), as a streaming client
    does. Returns the raw answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token {token}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
    )
    for start in range(0, len(body), chunk):
        piece = body[start : start + chunk]
        writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=20)
    writer.close()
    return raw


class TestChunkedUploads:
    @pytest.fixture
    def blocks_config(self) -> dict[str, Any]:
        return {"max_body_bytes": 4096}

    @pytest.mark.parametrize("path", ["blocks/post", "blocks/api/grids"])
    async def test_a_chunked_body_over_the_limit_gets_the_413_json(
        self,
        http_server: Any,
        jp_http_port: int,
        jp_base_url: str,
        jp_serverapp: Any,
        blocks_app: Any,
        path: str,
    ) -> None:
        body = json.dumps(make_payload(width=20, height=20)).encode()  # about 8 KB
        raw = await chunked_post(
            jp_http_port, jp_base_url + path, jp_serverapp.identity_provider.token, body, 1000
        )
        head, _, payload = raw.partition(b"\r\n\r\n")
        assert head.split()[1] == b"413"
        assert "4096 bytes" in json.loads(payload)["message"]
        assert stored(blocks_app) == 0

    async def test_a_chunked_body_far_over_the_limit_still_gets_the_413_json(
        self, http_server: Any, jp_http_port: int, jp_base_url: str, jp_serverapp: Any
    ) -> None:
        """Read to its end however big (thrown away as it comes): 1,000 times the limit."""
        raw = await chunked_post(
            jp_http_port,
            jp_base_url + "blocks/post",
            jp_serverapp.identity_provider.token,
            b"x" * 4096 * 1000,
            64 * 1024,
        )
        head, _, payload = raw.partition(b"\r\n\r\n")
        assert head.split()[1] == b"413"
        assert "4096 bytes" in json.loads(payload)["message"]

    async def test_a_chunked_body_still_arriving_long_after_the_limit_is_cut_off(
        self,
        http_server: Any,
        jp_http_port: int,
        jp_base_url: str,
        jp_serverapp: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(base, "DRAIN_SECONDS", 0.5)
        _, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
        writer.write(
            f"POST {jp_base_url}blocks/post HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: token {jp_serverapp.identity_provider.token}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        cut_off = False
        try:
            for _ in range(100):  # 10 s at most
                writer.write(b"1000\r\n" + b"x" * 4096 + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0.1)
        except ConnectionError:
            cut_off = True
        writer.close()
        assert cut_off

    async def test_a_chunked_body_within_the_limit_is_stored(
        self, http_server: Any, jp_http_port: int, jp_base_url: str, jp_serverapp: Any
    ) -> None:
        body = json.dumps(make_payload(width=3, height=2)).encode()
        raw = await chunked_post(
            jp_http_port,
            jp_base_url + "blocks/api/grids",
            jp_serverapp.identity_provider.token,
            body,
            100,
        )
        assert raw.split()[1] == b"201"


# Characters str.isdigit() calls digits that int() refuses or reads otherwise, on purpose.
NOT_ASCII_DIGITS = ["²", "١٢", "\U0001d7d7"]


@pytest.mark.parametrize("limit", [*NOT_ASCII_DIGITS, "0", "101", "-1", "1e3", "", "5x"])
async def test_a_limit_that_is_not_a_plain_number_in_range_is_a_400(
    jp_fetch: Any, limit: str
) -> None:
    response = await jp_fetch("blocks", "api", "grids", params={"limit": limit}, raise_error=False)
    assert response.code == 400
    assert json.loads(response.body)["errors"][0]["path"] == "limit"


@pytest.mark.parametrize(
    ("author", "problem"),
    [("ada\x00", "NUL"), ("\udc80ada", "surrogate"), ("a" * 256, "255 characters")],
    ids=["NUL", "lone surrogate", "too long"],
)
@pytest.mark.parametrize("path", [("blocks", "post"), ("blocks", "api", "grids")])
async def test_an_author_name_that_cannot_be_stored_is_a_400_naming_it(
    jp_fetch: Any, blocks_app: Any, author: str, problem: str, path: tuple[str, ...]
) -> None:
    blocks_app.default_author = author  # what an identity provider might hand over
    response = await jp_fetch(
        *path, method="POST", body=json.dumps(make_payload()), raise_error=False
    )
    assert response.code == 400
    error = json.loads(response.body)["errors"][0]
    assert error["path"] == "author" and problem in error["message"]
    assert stored(blocks_app) == 0


@pytest.mark.parametrize("size", [64 * 1024 + 1, 20_000_000], ids=["just-over", "20MB"])
async def test_a_rename_body_over_64_kib_is_a_413_and_changes_nothing(
    jp_fetch: Any, post_grid: Any, size: int
) -> None:
    """Read no further than the limit, never parsed: a huge body cannot hold the server."""
    grid = await post_grid(title="Kept")
    body = json.dumps({"title": "x" * (size - 13)}).encode()
    assert len(body) == size
    response = await jp_fetch(
        "blocks", "api", "grids", grid["id"], method="PATCH", body=body, raise_error=False
    )
    assert response.code == 413
    assert "65536 bytes" in json.loads(response.body)["message"]
    record = json.loads((await jp_fetch("blocks", "api", "grids", grid["id"])).body)
    assert record["title"] == "Kept"

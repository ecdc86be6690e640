"""Fuzzing every route and method of a real server, on SQLite and PostgreSQL: whatever the
request, no 5xx, nothing stored from a rejected request, and every grid that was stored can be
read back and its page drawn.

Hypothesis draws the requests (routes from the URL map, ids, query parameters, bodies from
valid payloads with one value changed anywhere, random JSON and random bytes, headers) and
sends them with `requests` from a worker thread to the server's real port."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from jupyter_blocks.models import Grid
from tests.utils import AUTHOR, make_payload, set_at

pytestmark = pytest.mark.shared_server

# Text any supported database can store (unstorable text has a test of its own below).
storable_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | storable_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(storable_text, children, max_size=4)
    ),
    max_leaves=20,
)
PAYLOAD_PATHS = [
    "ipb_class",
    "ipb_version",
    "secret",
    "code_cells",
    "title",
    "parent",
    "python_version",
    "python_version.3",
    "grid_data",
    "grid_data.width",
    "grid_data.height",
    "grid_data.lines_on",
    "grid_data.origin",
    "grid_data.blocks",
    "grid_data.blocks.0",
    "grid_data.blocks.1.2",
    "grid_data.blocks.0.0.0",
    "grid_data.blocks.0.0.3",
    "unknown_key",
]


@st.composite
def payloads(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["valid", "valid", "changed", "changed", "json", "bytes"]))
    if kind == "bytes":
        return bytes(draw(st.binary(max_size=300)))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    payload = make_payload(
        width=draw(st.integers(3, 6)),  # room for every path in PAYLOAD_PATHS
        height=draw(st.integers(2, 6)),
        secret=draw(st.booleans()),
        code_cells=draw(st.none() | st.lists(storable_text, max_size=3)),
    )
    if draw(st.booleans()):
        payload["title"] = draw(st.none() | storable_text)
    if kind == "changed":
        set_at(payload, draw(st.sampled_from(PAYLOAD_PATHS)), draw(json_values))
    return json.dumps(payload).encode()


grid_ids = st.from_regex(r"[A-Za-z0-9]{1,70}", fullmatch=True)
odd_segments = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#\x00"), max_size=20
)
# Every route of the URL map (and of this round's contract), with {id} for a grid id.
ROUTES = [
    "api/me",
    "api/grids",
    "api/grids/{id}",
    "api/grids/{id}/thumbnail.svg",
    "api/grids/{id}/image.png",
    "api/authors",
    "post",
    "random",
    "get/{id}",
    "get/secret/{id}",
    "secret/{id}",
    "",
    "{id}",
    "{odd}",
    "api/{odd}",
]
METHODS = ["GET", "POST", "DELETE", "PATCH", "PUT", "HEAD", "OPTIONS"]
# The requests the routes are for, drawn more often than any method on any route.
MEANT = [
    ("POST", "api/grids"),
    ("POST", "api/grids"),
    ("POST", "api/grids"),
    ("POST", "post"),
    ("POST", "post"),
    ("POST", "post"),
    ("GET", "api/grids"),
    ("GET", "api/grids/{id}"),
    ("DELETE", "api/grids/{id}"),
    ("PATCH", "api/grids/{id}"),
    ("GET", "api/grids/{id}/thumbnail.svg"),
    ("GET", "api/grids/{id}/image.png"),
    ("GET", "api/authors"),
    ("GET", "random"),
    ("GET", "get/{id}"),
    ("GET", "secret/{id}"),
    ("GET", "{id}"),
    ("GET", ""),
]
QUERY_NAMES = ["limit", "cursor", "author", "q"]


@st.composite
def requests_(draw: Any, known_ids: list[str]) -> dict[str, Any]:
    method, route = draw(
        st.sampled_from(MEANT) | st.tuples(st.sampled_from(METHODS), st.sampled_from(ROUTES))
    )
    # the same draws whatever is stored, so that hypothesis sees one strategy
    use_known, index, any_id = draw(st.booleans()), draw(st.integers(0, 999)), draw(grid_ids)
    grid_id = known_ids[index % len(known_ids)] if use_known and known_ids else any_id
    path = route.replace("{id}", grid_id).replace("{odd}", requests.utils.quote(draw(odd_segments)))
    params = draw(
        st.dictionaries(
            st.sampled_from(QUERY_NAMES),
            st.sampled_from(["1", "100", "101", "0", "²", "١٢", "-1", ""]) | storable_text,
            max_size=3,
        )
    )
    headers = {}
    if draw(st.booleans()):
        headers["Idempotency-Key"] = draw(
            st.sampled_from(["k1", "k2"])
            | st.from_regex(r"[!-~]([ -~]{0,208}[!-~])?", fullmatch=True)
        )
    body = draw(payloads()) if method in ("POST", "PATCH", "PUT") else None
    return {"method": method, "path": path, "params": params, "headers": headers, "data": body}


def stored_rows(engine: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(Grid.id, Grid.secret, Grid.secret_nonce)))


async def test_no_request_gets_a_5xx_or_stores_anything_when_refused(
    http_server: Any, jp_http_port: int, jp_base_url: str, jp_serverapp: Any, blocks_app: Any
) -> None:
    root = f"http://127.0.0.1:{jp_http_port}{jp_base_url}blocks/"
    session = requests.Session()
    session.headers["Authorization"] = f"token {jp_serverapp.identity_provider.token}"
    engine = blocks_app.database.engine
    known_ids: list[str] = []
    seen_keys: set[tuple[str, str]] = set()

    # The server keeps its state between examples: shrinking would replay against another
    # state, so failures are reported as found (the assertion names the request).
    @settings(
        max_examples=250,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data(), author=st.sampled_from([AUTHOR, AUTHOR, "ada"]) | storable_text)
    def one_request(data: Any, author: str) -> None:
        blocks_app.default_author = author  # what the identity provider says, fuzzed too
        request = data.draw(requests_(known_ids))
        before = len(stored_rows(engine))
        response = session.request(
            request["method"],
            root + request["path"],
            params=request["params"],
            headers=request["headers"],
            data=request["data"],
            allow_redirects=False,
            timeout=60,
        )
        assert response.status_code < 500, (request, response.status_code, response.text[:500])
        after = len(stored_rows(engine))
        if request["method"] == "POST" and response.status_code in (200, 201):
            key = request["headers"].get("Idempotency-Key")
            repeated = key is not None and (author, key) in seen_keys
            assert after == before + (0 if repeated else 1), request
            if key is not None:
                seen_keys.add((author, key))
            answer = response.json()
            known_ids.append(answer["id"] if "id" in answer else answer["url"].rsplit("/", 1)[1])
        elif request["method"] == "DELETE" and response.status_code == 204:
            assert after == before - 1, request
        else:
            assert after == before, (request, response.status_code)
        refused = response.status_code >= 400 and request["method"] != "HEAD"
        if refused and "json" in response.headers.get("Content-Type", ""):
            error = response.json()
            assert isinstance(error["message"], str) and isinstance(error["errors"], list)

    try:
        await asyncio.to_thread(one_request)
    finally:
        blocks_app.default_author = AUTHOR

    # every grid stored is readable through every read route, and its page renders
    rows = stored_rows(engine)
    for row_id, secret, nonce in rows:
        grid_id = blocks_app.ids.for_row(row_id, nonce)
        prefix = "secret/" if secret else ""
        for path in [
            f"api/grids/{grid_id}",
            f"api/grids/{grid_id}/thumbnail.svg",
            f"get/{prefix}{grid_id}",
            f"{prefix}{grid_id}",
        ]:
            response = await asyncio.to_thread(session.get, root + path, timeout=60)
            assert response.status_code == 200, (path, response.text[:500])
    listing = await asyncio.to_thread(session.get, root + "api/grids", timeout=60)
    assert listing.status_code == 200
    gallery = await asyncio.to_thread(session.get, root, timeout=60)
    assert gallery.status_code == 200


UNSTORABLE = {"NUL": "a\x00b", "lone surrogate": "a\udc80b"}
TEXT_FIELDS = ["title", "ipb_version", "code_cells.0", "python_version.3"]


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("text", UNSTORABLE.values(), ids=UNSTORABLE.keys())
async def test_unstorable_text_in_any_field_is_a_400_naming_it(
    jp_fetch: Any, blocks_app: Any, field: str, text: str
) -> None:
    payload = make_payload(code_cells=["x = 1"])
    set_at(payload, field, text)
    response = await jp_fetch(
        "blocks", "api", "grids", method="POST", body=json.dumps(payload), raise_error=False
    )
    assert response.code == 400
    assert json.loads(response.body)["errors"][0]["path"] == field
    assert stored_rows(blocks_app.database.engine) == []

"""jupyter_blocks/openapi.yaml is the contract: every operation in it is called on a real server
(SQLite and PostgreSQL) and its answer validated against it, and it describes every route the
server has, no more.

Parts of this round's contract not built yet are listed in PENDING_*: their operations are
skipped and their fields not yet required. Delete an entry when its work lands."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_spec_validator import validate as validate_spec
from werkzeug.datastructures import Headers, ImmutableMultiDict

import jupyter_blocks
from jupyter_blocks.handlers import routes
from tests.utils import grid_payload, make_payload

pytestmark = pytest.mark.shared_server

SPEC_FILE = Path(jupyter_blocks.__file__).with_name("openapi.yaml")

# Fields of the contract that the server does not send yet, e.g.
# ("GridFields", "can_delete"): "contract 1: can_delete (lead, issue 9)".
PENDING_FIELDS: dict[tuple[str, str], str] = {}
# Operations of the contract that the server does not have yet, e.g.
# ("get", "/blocks/api/authors"): "contract 4: author suggestions (features helper)".
PENDING_OPERATIONS: dict[tuple[str, str], str] = {}
NO_AUTH = {"Authorization": ""}


def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text())
    schemas = spec["components"]["schemas"]
    for schema, name in PENDING_FIELDS:
        required = schemas[schema]["required"]
        if name in required:
            required.remove(name)
    return spec


@pytest.fixture
def blocks_config() -> dict[str, Any]:
    return {"max_body_bytes": 100_000}


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(load_spec())


@dataclass
class SentRequest:
    """A request as openapi-core reads it: the path relative to the server's base_url."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes | None
    host_url: str = "http://127.0.0.1"
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(self.query), header=Headers(self.headers)
        )

    @property
    def content_type(self) -> str:
        return "application/json" if self.body is not None else ""


@dataclass
class ReceivedResponse:
    status_code: int
    headers: Headers
    data: bytes | None

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", "")).lower()


@dataclass(frozen=True)
class Case:
    """A request to make on a server holding one public and one secret grid: `{public}` and
    `{secret}` in the path stand for their ids, `{unknown}` for an id of no grid."""

    method: str
    path: str
    status: int
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    empty: bool = False  # on a server with no grids at all
    revalidate: bool = False  # send the ETag of a first answer as If-None-Match

    @property
    def operation(self) -> tuple[str, str]:
        grid_id = "{grid_id}"
        return self.method.lower(), self.path.format(
            public=grid_id, secret=grid_id, unknown=grid_id
        )


CASES = [
    # the ipythonblocks.org protocol
    Case("POST", "/blocks/post", 200, body=make_payload()),
    Case("POST", "/blocks/post", 400, body=make_payload(extra=1)),
    Case("POST", "/blocks/post", 403, body=make_payload(), headers=NO_AUTH),
    Case("POST", "/blocks/post", 413, body=make_payload(200, 100)),
    Case("GET", "/blocks/get/{public}", 200),
    Case("GET", "/blocks/get/{secret}", 404),
    Case("GET", "/blocks/get/secret/{secret}", 200),
    Case("GET", "/blocks/get/secret/{public}", 404),
    Case("GET", "/blocks/random", 303),
    Case("GET", "/blocks/random", 404, empty=True),
    # HTML pages
    Case("GET", "/blocks/", 200),
    Case("GET", "/blocks/", 200, params={"author": "nobody"}),
    Case("GET", "/blocks/{public}", 200),
    Case("GET", "/blocks/{secret}", 404),
    Case("GET", "/blocks/secret/{secret}", 200),
    Case("GET", "/blocks/session", 200),
    Case("GET", "/blocks/wall", 200),
    Case("GET", "/blocks/wall", 200, params={"q": "sunset", "author": "teacher"}),
    # the JSON API
    Case("GET", "/blocks/session", 200),
    Case("GET", "/blocks/api/me", 200),
    Case("GET", "/blocks/api/me", 403, headers=NO_AUTH),
    Case("GET", "/blocks/api/grids", 200),
    Case("GET", "/blocks/api/grids", 200, params={"limit": "1", "author": "teacher"}),
    Case("GET", "/blocks/api/grids", 200, params={"q": "sunset"}),
    Case("GET", "/blocks/api/grids", 400, params={"limit": "0"}),
    Case("POST", "/blocks/api/grids", 201, body=grid_payload(3)),
    Case("POST", "/blocks/api/grids", 400, body="{"),
    Case("POST", "/blocks/api/grids", 413, body=make_payload(200, 100)),
    Case("GET", "/blocks/api/grids/{public}", 200),
    Case("GET", "/blocks/api/grids/{public}", 200, params={"blocks": "false"}),
    Case("GET", "/blocks/api/grids/{public}", 400, params={"blocks": "no"}),
    Case("GET", "/blocks/api/grids/{secret}", 200),
    Case("GET", "/blocks/api/grids/{unknown}", 404),
    Case("PATCH", "/blocks/api/grids/{public}", 200, body={"title": "Renamed"}),
    Case(
        "PATCH",
        "/blocks/api/grids/{public}",
        200,
        body={"title": "Renamed"},
        params={"blocks": "false"},
    ),
    Case("PATCH", "/blocks/api/grids/{public}", 400, body={"title": 5}),
    Case("PATCH", "/blocks/api/grids/{public}", 413, body={"title": "x" * 70_000}),
    Case("DELETE", "/blocks/api/grids/{public}", 204),
    Case("DELETE", "/blocks/api/grids/{unknown}", 404),
    Case("GET", "/blocks/api/grids/{public}/thumbnail.svg", 200),
    Case("GET", "/blocks/api/grids/{public}/thumbnail.svg", 304, revalidate=True),
    Case("GET", "/blocks/api/grids/{unknown}/thumbnail.svg", 404),
    Case("GET", "/blocks/api/grids/{public}/pixels", 200),
    Case("GET", "/blocks/api/grids/{secret}/pixels", 200),
    Case("GET", "/blocks/api/grids/{public}/pixels", 304, revalidate=True),
    Case("GET", "/blocks/api/grids/{unknown}/pixels", 404),
    Case("GET", "/blocks/api/grids/{public}/image.png", 200),
    Case("GET", "/blocks/api/grids/{public}/image.png", 304, revalidate=True),
    Case("GET", "/blocks/api/authors", 200, params={"q": "tea"}),
    # the websocket of changes, asked as plain HTTP (tests/test_live.py speaks to it)
    Case("GET", "/blocks/api/events", 400),
    Case("GET", "/blocks/api/events", 403, headers=NO_AUTH),
]


def _param(case: Case) -> Any:
    pending = PENDING_OPERATIONS.get(case.operation)
    marks = [pytest.mark.skip(reason=f"not built yet: {pending}")] if pending else []
    name = f"{case.method} {case.path} {case.status}" + "".join(
        f" {key}={value}" for key, value in case.params.items()
    )
    if case.headers == NO_AUTH:
        name += " no-credentials"
    return pytest.param(case, marks=marks, id=name)


async def _seed(jp_fetch: Any) -> dict[str, str]:
    ids = {}
    for kind, secret in (("public", False), ("secret", True)):
        payload = grid_payload(0, secret=secret)
        response = await jp_fetch("blocks", "api", "grids", method="POST", body=json.dumps(payload))
        ids[kind] = json.loads(response.body)["id"]
    return ids


async def _call(jp_fetch: Any, case: Case, path: str, headers: dict[str, str]) -> Any:
    body = case.body
    if isinstance(body, dict):
        body = json.dumps(body)
    if body is None and case.method in ("POST", "PATCH", "PUT"):
        body = ""
    return await jp_fetch(
        *path.split("/")[1:],
        method=case.method,
        body=body,
        params=case.params,
        headers=headers,
        raise_error=False,
        follow_redirects=False,
    )


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
async def test_every_operation_answers_as_the_contract_says(
    jp_fetch: Any, jp_base_url: str, openapi: OpenAPI, case: Case
) -> None:
    ids = {"unknown": "AAAAAA"}
    if not case.empty:
        ids.update(await _seed(jp_fetch))
    path = case.path.format(**ids)
    headers = dict(case.headers)
    if case.revalidate:
        first = await _call(jp_fetch, case, path, headers)
        headers["If-None-Match"] = first.headers["ETag"]

    response = await _call(jp_fetch, case, path, headers)

    assert response.code == case.status, response.body
    url = urlsplit(response.effective_url)
    assert url.path.startswith(jp_base_url + path.removeprefix("/").rstrip("/"))
    sent = SentRequest(
        method=case.method.lower(),
        path=path,
        query=parse_qsl(url.query),
        headers=headers,
        body=None if response.request.body is None else response.request.body,
    )
    received = ReceivedResponse(
        response.code, Headers(list(response.headers.get_all())), response.body or None
    )
    openapi.validate_response(sent, received)


def _route_as_path(pattern: str) -> str:
    """A tornado route of handlers.routes() as an OpenAPI path."""
    path = pattern.replace(r"([A-Za-z0-9]{1,64})", "{grid_id}").replace(r"\.", ".")
    path = path.removesuffix("/?") + "/" if pattern.endswith("/?") else path
    assert not re.search(r"[\\()\[\]?*+^$]", path), f"cannot read route {pattern!r} as a path"
    return "/" + path


def test_the_contract_describes_every_route_and_no_other() -> None:
    spec = load_spec()
    # The last routes catch every other path under blocks/ to answer a 404: not endpoints.
    routed = {_route_as_path(route[0]) for route in routes() if not route[0].endswith(".*")}
    described = set(spec["paths"])
    pending = {path for _, path in PENDING_OPERATIONS if path not in routed}
    assert routed - described == set(), "routes missing from openapi.yaml"
    assert described - routed - pending == set(), "openapi.yaml describes routes the server lacks"


def test_every_operation_of_the_contract_is_called_by_this_test() -> None:
    spec = load_spec()
    described = {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert described == {case.operation for case in CASES}


def test_the_contract_is_valid_openapi_3_1() -> None:
    spec = yaml.safe_load(SPEC_FILE.read_text())
    assert spec["openapi"].startswith("3.1")
    validate_spec(spec)


def test_the_contract_ships_in_the_package() -> None:
    assert SPEC_FILE.is_file()

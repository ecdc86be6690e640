"""Turn a request body into a clean `NewGrid`, or a list of precise errors.

A valid body is parsed and checked in one pass by msgspec's typed decoder, in C: the payload
types below carry every bound from the configured limits, reject unknown keys, and take no bools
or floats for integers. What a type cannot say (the blocks form `height` rows of `width`, text is
storable) is checked after. Only a body that fails is looked at again, slowly, to say precisely
what is wrong: msgspec stops at the first error, and for the blocks we name every bad one (up to
`MAX_REPORTED_ERRORS`) by its row and column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .render import compress_pixels, thumbnail_svg, validated_block_bytes
from .text import text_problem

GRID_CLASSES = ("BlockGrid", "ImageGrid")
ORIGINS = ("upper-left", "lower-left")
# Stop collecting block errors after this many: one is enough to fix, a screenful is plenty.
MAX_REPORTED_ERRORS = 20
# A grid id, as `parent` names the grid a remix was loaded from.
GRID_ID_PATTERN = "^[A-Za-z0-9]{1,64}$"
MAX_VERSION_CHARS = 32
MAX_VERSION_PARTS = 8


@dataclass(frozen=True)
class Limits:
    max_cells: int = 250_000
    max_block_size: int = 100
    max_code_cells: int = 200
    max_code_cell_chars: int = 100_000
    max_title_chars: int = 200


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass
class InvalidPayload(Exception):
    message: str
    errors: list[FieldError] = field(default_factory=list)


@dataclass(frozen=True)
class NewGrid:
    """A validated grid, ready to store: its `grid_data` as compact JSON (stored once, served as
    it is) and drawn once (packed pixels for pages, an SVG thumbnail)."""

    ipb_class: str
    width: int
    height: int
    lines_on: bool
    grid_json: str
    pixels: bytes
    thumbnail_svg: str
    secret: bool = False
    title: str | None = None
    parent: str | None = None
    code_cells: list[str] | None = None
    ipb_version: str | None = None
    python_version: list[Any] | None = None

    @property
    def grid_data(self) -> dict[str, Any]:
        return dict(msgspec.json.decode(self.grid_json))


def _payload_type(limits: Limits) -> type[msgspec.Struct]:
    """The msgspec type of a payload under `limits`."""
    colour = Annotated[int, Meta(ge=0, le=255)]
    size = Annotated[int, Meta(ge=1, le=limits.max_block_size)]
    dimension = Annotated[int, Meta(ge=1, le=limits.max_cells)]
    grid_data = msgspec.defstruct(
        "GridData",
        [
            ("lines_on", bool),
            ("width", dimension),
            ("height", dimension),
            ("blocks", list[list[tuple[colour, colour, colour, size]]]),
            ("origin", Literal[ORIGINS] | UnsetType, UNSET),
        ],
        forbid_unknown_fields=True,
    )
    version_part = int | Annotated[str, Meta(max_length=MAX_VERSION_CHARS)]
    code_cell = Annotated[str, Meta(max_length=limits.max_code_cell_chars)]
    return msgspec.defstruct(
        "Payload",
        [
            ("ipb_class", Literal[GRID_CLASSES]),
            ("grid_data", grid_data),
            ("secret", bool, False),
            ("title", Annotated[str, Meta(max_length=limits.max_title_chars)] | None, None),
            ("parent", Annotated[str, Meta(pattern=GRID_ID_PATTERN)] | None, None),
            (
                "code_cells",
                Annotated[list[code_cell], Meta(max_length=limits.max_code_cells)] | None,
                None,
            ),
            ("ipb_version", Annotated[str, Meta(max_length=MAX_VERSION_CHARS)] | None, None),
            (
                "python_version",
                Annotated[list[version_part], Meta(max_length=MAX_VERSION_PARTS)] | None,
                None,
            ),
        ],
        forbid_unknown_fields=True,
    )


def _decode_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidPayload("Request body is not UTF-8 text") from err


def _not_json(err: Exception) -> InvalidPayload:
    return InvalidPayload(f"Request body is not valid JSON: {err}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON as Python values (UTF-8 only, no NaN or Infinity, no nesting deep enough to
    crash the parser), for small bodies that have no payload type. Unlike msgspec, Python's
    parser takes lone surrogate escapes: the caller's text_problem names the field instead."""
    text = _decode_text(body)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise _not_json(err) from err


# msgspec says where an error is as `$.grid_data.blocks[2][3]`; we say `grid_data.blocks.2.3`.
_LOCATION = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_TYPE_NAMES = {
    "int": "integer",
    "bool": "boolean",
    "str": "string",
    "float": "number",
    "array": "array",
    "object": "object",
    "null": "null",
}
_REWORDS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"Expected `([^`]+)`, got `(\w+)`"),
        lambda m: (
            "must be of type "
            + " or ".join(_TYPE_NAMES.get(name, name) for name in m[1].split(" | "))
            + f", got {_TYPE_NAMES.get(m[2], m[2])}"
        ),
    ),
    (re.compile(r"Expected `int` >= (-?\d+)"), lambda m: f"must be at least {m[1]} (minimum)"),
    (re.compile(r"Expected `int` <= (-?\d+)"), lambda m: f"must be at most {m[1]} (maximum)"),
    (
        re.compile(r"Expected `array` of length <= (\d+)"),
        lambda m: f"must have at most {m[1]} items (too long)",
    ),
    (
        re.compile(r"Expected `str` of length <= (\d+)"),
        lambda m: f"must be at most {m[1]} characters (too long)",
    ),
    (
        re.compile(r"Expected `str` matching regex '\^\[A-Za-z0-9\]\{1,64\}\$'"),
        lambda m: "must be a grid id: 1 to 64 letters and digits",
    ),
    (re.compile(r"Invalid enum value (.*)"), lambda m: f"{m[1]} is not one of the allowed values"),
    (re.compile(r"Object contains unknown field `(.*)`"), lambda m: f"unknown field {m[1]!r}"),
    (re.compile(r"Object missing required field `(.*)`"), lambda m: f"{m[1]!r} is required"),
]


def _field_error(error: msgspec.ValidationError) -> FieldError:
    """msgspec's error as a FieldError, with our path syntax and plain words."""
    located = _LOCATION.match(str(error))
    assert located is not None  # the pattern matches any text
    message, where = located["message"], located["path"] or ""
    path = ".".join(part for part in re.split(r"[.\[\]]+", where) if part)
    for pattern, reword in _REWORDS:
        matched = pattern.fullmatch(message)
        if matched:
            return FieldError(path, reword(matched))
    return FieldError(path, message)


def _block_errors(blocks: Any, width: int, height: int, max_size: int) -> list[FieldError]:
    """Every way `blocks` is not `height` rows of `width` valid blocks (up to the cap)."""
    errors: list[FieldError] = []

    def add(path: str, message: str) -> bool:
        errors.append(FieldError(path, message))
        return len(errors) >= MAX_REPORTED_ERRORS

    if type(blocks) is not list:
        return errors
    if len(blocks) != height:
        add("grid_data.blocks", f"expected {height} rows (the height), got {len(blocks)}")
        return errors
    for row_index, row in enumerate(blocks):
        row_path = f"grid_data.blocks.{row_index}"
        if type(row) is not list:
            if add(row_path, "a row must be a list of blocks"):
                return errors
            continue
        if len(row) != width:
            if add(row_path, f"expected {width} blocks (the width), got {len(row)}"):
                return errors
            continue
        for col_index, block in enumerate(row):
            problem = _block_problem(block, max_size)
            if problem and add(f"{row_path}.{col_index}", problem):
                return errors
    return errors


def _block_problem(block: Any, max_size: int) -> str | None:
    # a list as parsed from JSON, or a tuple as the typed decoder makes it
    if type(block) not in (list, tuple) or len(block) != 4:
        return "a block must be a list [red, green, blue, size]"
    for name, value in zip(("red", "green", "blue"), block[:3], strict=True):
        if type(value) is not int or not 0 <= value <= 255:
            return f"{name} must be an integer from 0 to 255, got {_shown(value)}"
    size = block[3]
    if type(size) is not int or not 1 <= size <= max_size:
        return f"size must be an integer from 1 to {max_size}, got {_shown(size)}"
    return None


def _shown(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _text_errors(payload: Any) -> list[FieldError]:
    """Text that no database can store (NUL, lone surrogates), by field (`payload`: decoded, or
    a dict as Python's json module parses it)."""
    field = payload.get if isinstance(payload, dict) else lambda name: getattr(payload, name)
    code_cells, python_version = field("code_cells"), field("python_version")
    fields: list[tuple[str, Any]] = [
        ("title", field("title")),
        ("parent", field("parent")),
        ("ipb_version", field("ipb_version")),
        *((f"code_cells.{i}", cell) for i, cell in enumerate(_list(code_cells))),
        *((f"python_version.{i}", part) for i, part in enumerate(_list(python_version))),
    ]
    errors = []
    for path, value in fields:
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            errors.append(FieldError(path, problem))
    return errors


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _unparsable(text: str, error: Exception) -> InvalidPayload:
    """Why msgspec could not parse `text`. It refuses lone surrogate escapes (`"\\ud800"`),
    which Python's parser takes: when that is all that is wrong, name the fields holding one."""
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _not_json(error)
    errors = _text_errors(document) if isinstance(document, dict) else []
    return InvalidPayload("Invalid grid payload", errors) if errors else _not_json(error)


class PayloadValidator:
    """Validates grid payloads against one set of limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._decoder = msgspec.json.Decoder(_payload_type(limits))
        self._encoder = msgspec.json.Encoder()

    def validate(self, body: bytes) -> NewGrid:
        text = _decode_text(body)
        try:
            payload: Any = self._decoder.decode(text)
        except msgspec.ValidationError as err:
            raise InvalidPayload("Invalid grid payload", self._explain(text, err)) from err
        except (msgspec.DecodeError, RecursionError) as err:
            raise _unparsable(text, err) from err
        grid = payload.grid_data
        if grid.width * grid.height > self.limits.max_cells:
            raise InvalidPayload(
                "Invalid grid payload",
                [
                    FieldError(
                        "grid_data",
                        f"{grid.width}x{grid.height} is {grid.width * grid.height} blocks, "
                        f"more than the limit of {self.limits.max_cells}",
                    )
                ],
            )
        if len(grid.blocks) != grid.height or any(len(row) != grid.width for row in grid.blocks):
            raise InvalidPayload(
                "Invalid grid payload",
                _block_errors(grid.blocks, grid.width, grid.height, self.limits.max_block_size),
            )
        text_errors = _text_errors(payload)
        if text_errors:
            raise InvalidPayload("Invalid grid payload", text_errors)
        blocks = validated_block_bytes(grid.width, grid.height, grid.blocks)
        return NewGrid(
            ipb_class=payload.ipb_class,
            width=grid.width,
            height=grid.height,
            lines_on=grid.lines_on,
            grid_json=self._encoder.encode(grid).decode(),
            pixels=compress_pixels(blocks),
            thumbnail_svg=thumbnail_svg(grid.width, grid.height, blocks),
            secret=payload.secret,
            title=payload.title or None,
            parent=payload.parent,
            code_cells=payload.code_cells,
            ipb_version=payload.ipb_version,
            python_version=payload.python_version,
        )

    def _explain(self, text: str, error: msgspec.ValidationError) -> list[FieldError]:
        """The errors of a payload the typed decoder refused. It stops at the first, maybe
        before the rest of the body proves not to be JSON at all: parse it whole to tell. In the
        blocks, name every bad block and row (up to the cap), not just the first."""
        try:
            document = msgspec.json.decode(text)
        except (msgspec.DecodeError, RecursionError) as err:
            raise _not_json(err) from err
        first = _field_error(error)
        grid_data = document.get("grid_data") if type(document) is dict else None
        if not first.path.startswith("grid_data.blocks.") or type(grid_data) is not dict:
            return [first]
        width, height = grid_data.get("width"), grid_data.get("height")
        if type(width) is not int or type(height) is not int:
            return [first]
        block_errors = _block_errors(grid_data["blocks"], width, height, self.limits.max_block_size)
        return block_errors or [first]
